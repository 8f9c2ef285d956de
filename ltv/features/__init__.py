"""ltv.features."""
