"""ltv.models."""
