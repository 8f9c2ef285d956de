"""Serving through Feast: register, materialize, look up, point-in-time retrieval.

* :mod:`ltv.serving.definitions` -- the Feast objects (entity ``customer`` keyed by ``entity_key``,
  Delta sources, views ``customer_features`` / ``customer_ltv``, services ``ltv_training`` /
  ``ltv_online``).
* :mod:`ltv.serving.store` -- the ``FeatureStore`` of a lake (config from
  ``feature_repo/feature_store.yaml``, Feast state under ``<lake>/feast/``) and ``apply``.
* :mod:`ltv.serving.materialize` -- latest snapshot per customer to the online store, on Spark.
* :mod:`ltv.serving.lookup` -- one or many customers from the online store (no Spark).
* :mod:`ltv.serving.historical` -- point-in-time joins as a Spark DataFrame.
"""
