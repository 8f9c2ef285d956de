"""ltv.training: back-tests, the promotion gate and the MLflow model registry."""
