"""How the tests' JVMs are started (test speed only; see docs/testing.md). No side effects on import:
child processes of the suite read these too."""
from __future__ import annotations

# The short-lived JVMs the tests start (spark-submit's, the CLI subprocesses', the notebook
# kernels') work seconds to a minute on tiny data: the quick C1 JIT and the serial GC spend far
# less CPU warming up than C2 and G1 on this 2-core machine. The session JVM (tests/conftest.py)
# lives for the whole run and is started without them, as ltv starts it for users (C2, parallel GC): on the
# Spark-heavy unit tests that took 184-188 s instead of 222-236 s. Test speed only.
SHORT_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

# Spark generates and compiles Java for every new plan and, in each task, for every projection: on
# the suite's thousands of distinct tiny queries that was about half of the session JVM's CPU
# (measured with JFR). The session JVM evaluates expressions interpreted instead: Spark's other
# engine for the same operators, the one its own test suites check codegen against. Test speed
# only; the user entry points the tests run as children (the README tour, local-cluster,
# spark-submit, the CLI processes, the notebook kernels) run Spark's defaults, so the generated-code
# path is tested end to end too. Harness children that only prepare or race data do as the session.
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}
