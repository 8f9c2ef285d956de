"""ltv.evaluation."""
