"""ltv.pipeline: ``ltv run``, the daily pipeline (features -> train when due -> score -> materialize)."""
