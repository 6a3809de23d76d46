"""Sources: what raises alerts. Each reads what the project already records (incrementally, from a persisted
watermark) and turns it into observations: "this condition holds (or not) for these labels, now"."""
