#!/usr/bin/env bash
# Run an ltv job with Delta configured, on any Spark master.
#
#   ./spark-submit.sh jobs/ingest_transactions.py --master local[2] data/tx.csv --lake /data/lake
#   ./spark-submit.sh jobs/ingest_transactions.py --master spark://host:7077 --conf spark.executor.memory=8g ...
#
# Options spark-submit understands (--master, --deploy-mode, --conf K=V, --driver-memory,
# --executor-memory, --executor-cores, --num-executors, --total-executor-cores, --py-files,
# --jars, --packages) go to spark-submit; everything else goes to the job.
# Uses $SPARK_HOME/bin/spark-submit when SPARK_HOME is set, else the one in the project's
# virtualenv (.venv, or $LTV_VENV). Default master: local[*].
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then usage; exit 0; fi

HERE="$(cd "$(dirname "$0")" && pwd)"
JOB="$1"; shift
if [[ ! -f "$JOB" ]]; then echo "spark-submit.sh: job file $JOB not found (try jobs/*.py)" >&2; exit 2; fi

VENV="${LTV_VENV:-$HERE/.venv}"
PY="${PYSPARK_PYTHON:-$VENV/bin/python}"
if [[ ! -x "$PY" ]]; then echo "spark-submit.sh: no Python at $PY; run 'make setup' first" >&2; exit 2; fi
if [[ -n "${SPARK_HOME:-}" ]]; then SUBMIT="$SPARK_HOME/bin/spark-submit"; else SUBMIT="$VENV/bin/spark-submit"; fi

MASTER="local[*]"
SUBMIT_ARGS=()
JOB_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --master) MASTER="$2"; shift 2;;
    --master=*) MASTER="${1#*=}"; shift;;
    --deploy-mode|--conf|--driver-memory|--executor-memory|--executor-cores|--num-executors|--total-executor-cores|--py-files|--jars|--packages)
      SUBMIT_ARGS+=("$1" "$2"); shift 2;;
    *) JOB_ARGS+=("$1"); shift;;
  esac
done

JARS="$("$PY" -m ltv.runtime.jars 2>/dev/null | tail -1)"
if [[ -z "$JARS" ]]; then echo "spark-submit.sh: could not fetch the Delta jars (python -m ltv.runtime.jars)" >&2; exit 1; fi

EXTRA=()
if [[ "$MASTER" != local* ]]; then
  # ship the ltv package to executors that do not have it installed
  mkdir -p "$HERE/build"
  (cd "$HERE" && "$PY" -c "import shutil; shutil.make_archive('build/ltv', 'zip', '.', 'ltv')")
  EXTRA+=(--py-files "$HERE/build/ltv.zip")
fi

# local masters: the driver JVM maps ltv's class-data-sharing archive when `make setup` built one
# (ltv/runtime/cds.py, a start-up cache only); two lines, class path and Java options, both empty without one
CDS_CLASSPATH=""; CDS_OPTIONS=""
if [[ "$MASTER" == local* ]]; then
  { IFS= read -r CDS_CLASSPATH; IFS= read -r CDS_OPTIONS; } < <("$PY" -m ltv.runtime.cds --driver-options 2>/dev/null || true) || true
  [[ -n "$CDS_CLASSPATH" ]] && EXTRA+=(--driver-class-path "$CDS_CLASSPATH")
fi

# the driver logs warnings and errors only, as `ltv` does (Spark's default is INFO on the console);
# not in cluster deploy mode, where the driver runs on a host that may not have this file
LOG4J="$HERE/ltv/data/log4j2.properties"
[[ -f "$LOG4J" && " ${SUBMIT_ARGS[*]+${SUBMIT_ARGS[*]}} " != *" --deploy-mode cluster "* ]] || LOG4J=""

export PYSPARK_PYTHON="$PY" PYSPARK_DRIVER_PYTHON="$PY" SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
exec "$SUBMIT" \
  --master "$MASTER" \
  --jars "$JARS" \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.session.timeZone=UTC \
  --conf "spark.driver.extraJavaOptions=-Duser.timezone=UTC${LOG4J:+ -Dlog4j2.configurationFile=file:$LOG4J}${CDS_OPTIONS:+ $CDS_OPTIONS}" \
  --conf "spark.executor.extraJavaOptions=-Duser.timezone=UTC" \
  --conf spark.ui.showConsoleProgress=false \
  --conf spark.sql.debug.maxToStringFields=500 \
  ${EXTRA[@]+"${EXTRA[@]}"} \
  ${SUBMIT_ARGS[@]+"${SUBMIT_ARGS[@]}"} \
  "$JOB" ${JOB_ARGS[@]+"${JOB_ARGS[@]}"}
