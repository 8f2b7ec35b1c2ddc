#!/usr/bin/env bash
# spark-submit a job to a cluster with the cached Delta jars and the zipped package.
#   scripts/submit.sh MASTER JOB [job args...]
#   e.g. scripts/submit.sh spark://127.0.0.1:7077 jobs/run_pipeline.py \
#          --conf conf/cluster.yaml --as-of 2026-11-03 --set lake.root=$PWD/lake
# Extra spark-submit options can be passed in SPARK_SUBMIT_OPTS_EXTRA.
set -euo pipefail
cd "$(dirname "$0")/.."
master=$1; job=$2; shift 2
zip=$(bash scripts/package.sh "${C360_PYFILES:-dist/c360-lib.zip}")
py="$PWD/.venv/bin/python"
# Delta from the cache, plus the JVM side of optional packages (Splink's similarity UDFs).
extra=$("$py" -c 'from c360.session import optional_jars; print(",".join(optional_jars()))')
jars=$(ls .cache/ivy/jars/*.jar | paste -sd, -)${extra:+,$extra}
# hadoop-aws and the AWS SDK bundle (about 700 MB, shipped to every executor) only for a
# job whose arguments name an s3a:// path
case " $* " in
  *s3a://*) jars="$jars,$(ls .cache/ivy/s3a/jars/*.jar | paste -sd, -)" ;;
esac
SPARK_HOME=$("$py" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME
# Spark's own log lines (c360.session.LOG4J2_CONFIG): the driver reads the file here, each
# executor the copy --files puts in its working folder.
log4j2="$PWD/lib/c360/log4j2.properties"
# shellcheck disable=SC2086
exec .venv/bin/spark-submit \
  --master "$master" \
  --jars "$jars" \
  --py-files "$zip" \
  --files "$log4j2" \
  --driver-java-options "-Dlog4j2.configurationFile=file:$log4j2" \
  --conf spark.executor.extraJavaOptions=-Dlog4j2.configurationFile=log4j2.properties \
  --conf spark.ui.showConsoleProgress=false \
  --conf spark.pyspark.python="$py" \
  --conf spark.pyspark.driver.python="$py" \
  --conf spark.driver.host=127.0.0.1 \
  --conf spark.driver.bindAddress=127.0.0.1 \
  ${SPARK_SUBMIT_OPTS_EXTRA:-} \
  "$job" "$@"
