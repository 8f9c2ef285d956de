"""The JVM side of ltv: the one SparkSession builder, the Delta jars and the start-up cache.

* :mod:`ltv.runtime.session`: :func:`~ltv.runtime.session.get_spark` (Delta, UTC, local defaults,
  honours ``spark-submit``), :func:`~ltv.runtime.session.restored_conf`,
  :func:`~ltv.runtime.session.stop_spark`.
* :mod:`ltv.runtime.jars`: Delta's jars, fetched once with Maven (``python -m ltv.runtime.jars``).
* :mod:`ltv.runtime.cds`: the driver JVM's class-data-sharing archive, a start-up cache only
  (``python -m ltv.runtime.cds``); :mod:`ltv.runtime.cds_build` is the workload that records it.
* :mod:`ltv.runtime.faults`: named fault-injection points, inert unless a test installs a plan.

Only stock Spark and Delta: the sessions ltv starts load Delta's extension and whatever the user
configured, nothing of ltv's own on the JVM side.
"""
