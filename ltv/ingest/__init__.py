"""ltv.ingest."""
