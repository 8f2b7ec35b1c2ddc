#!/usr/bin/env bash
# A Spark standalone master and one worker on 127.0.0.1, from the pip pyspark
# (which ships spark-class but not start-master.sh).
#   scripts/cluster.sh start|stop|status|start-worker
# Ports: C360_MASTER_PORT (7077), C360_MASTER_UI_PORT (8080), C360_WORKER_UI_PORT (8081).
# State and logs: C360_CLUSTER_DIR (.cache/cluster).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${C360_MASTER_PORT:-7077}
MUI=${C360_MASTER_UI_PORT:-8080}
WUI=${C360_WORKER_UI_PORT:-8081}
CORES=${C360_WORKER_CORES:-2}
MEM=${C360_WORKER_MEMORY:-4g}
DIR=${C360_CLUSTER_DIR:-.cache/cluster}
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac  # absolute: the worker's folder is not the checkout's
PY=.venv/bin/python
[ -x "$PY" ] || { echo "cluster: run scripts/setup.sh first" >&2; exit 1; }
SPARK_HOME=$("$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1 SPARK_WORKER_DIR="$DIR/work"
export PYSPARK_PYTHON="$PWD/.venv/bin/python"

wait_for() {  # file pattern seconds
  local file=$1 pattern=$2 secs=$3
  for _ in $(seq "$secs"); do
    grep -q "$pattern" "$file" 2>/dev/null && return 0
    sleep 1
  done
  echo "cluster: timed out waiting for '$pattern' in $file" >&2
  tail -n 20 "$file" >&2 || true
  return 1
}

alive() {  # a killed process stays a zombie until reaped: that is not alive
  [ -f "$1" ] || return 1
  local stat
  stat=$(ps -o stat= -p "$(cat "$1")" 2>/dev/null) || return 1
  [ -n "$stat" ] && [ "${stat#Z}" = "$stat" ]
}

start_worker() {  # appends to worker.log: a restarted worker's lines follow the lost one's
  nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --host 127.0.0.1 --cores "$CORES" --memory "$MEM" --webui-port "$WUI" \
    "spark://127.0.0.1:$PORT" >>"$DIR/worker.log" 2>&1 &
  echo $! >"$DIR/worker.pid"
  local n
  n=$(grep -c "Successfully registered with master" "$DIR/worker.log" 2>/dev/null || true)
  for _ in $(seq 90); do
    [ "$(grep -c "Successfully registered with master" "$DIR/worker.log")" -gt "${n:-0}" ] && return 0
    sleep 1
  done
  echo "cluster: the worker did not register within 90 s" >&2
  tail -n 20 "$DIR/worker.log" >&2 || true
  return 1
}

case "${1:-}" in
  start)
    mkdir -p "$DIR/work"
    if alive "$DIR/master.pid"; then echo "cluster: already running at spark://127.0.0.1:$PORT"; exit 0; fi
    nohup "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
      --host 127.0.0.1 --port "$PORT" --webui-port "$MUI" >"$DIR/master.log" 2>&1 &
    echo $! >"$DIR/master.pid"
    wait_for "$DIR/master.log" "I have been elected leader" 90
    : >"$DIR/worker.log"
    start_worker
    echo "spark://127.0.0.1:$PORT"
    ;;
  start-worker)  # a worker again, after one was lost (the master keeps running)
    if alive "$DIR/worker.pid"; then echo "cluster: the worker is running"; exit 0; fi
    start_worker
    echo "cluster: worker registered with spark://127.0.0.1:$PORT"
    ;;
  stop)
    for role in worker master; do
      if alive "$DIR/$role.pid"; then
        pid=$(cat "$DIR/$role.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
      fi
      rm -f "$DIR/$role.pid"
    done
    echo "cluster: stopped"
    ;;
  status)
    for role in master worker; do
      if alive "$DIR/$role.pid"; then echo "$role: running (pid $(cat "$DIR/$role.pid"))"; else echo "$role: stopped"; fi
    done
    ;;
  *)
    echo "usage: scripts/cluster.sh start|stop|status|start-worker" >&2
    exit 2
    ;;
esac
