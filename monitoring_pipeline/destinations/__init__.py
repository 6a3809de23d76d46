"""Remote destinations of the notification files: SFTP and S3-compatible stores, sync and catch-up (no Dagster)."""
