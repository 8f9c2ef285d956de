"""ltv.serving."""
