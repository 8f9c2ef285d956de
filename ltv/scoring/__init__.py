"""ltv.scoring."""
