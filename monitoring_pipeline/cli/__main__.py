from monitoring_pipeline.cli import main

main()
