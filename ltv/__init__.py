"""ltv: customer lifetime value on Spark + Delta, with BTYD and XGBoost models and Feast serving."""
from __future__ import annotations

__version__ = "0.1.0"
