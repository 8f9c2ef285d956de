"""ltv.lake."""
