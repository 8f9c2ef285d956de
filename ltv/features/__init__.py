"""ltv.features: point-in-time customer features and labels.

Importing the package registers the ``customer_features`` lake table.
"""
from ltv.features import schema as _schema  # noqa: F401  (registers customer_features)
