#!/usr/bin/env bash
# Measure the collector's idle footprint: build the router and collector,
# run the router on an embedded NATS in a temp dir and the collector against
# it (heartbeats, posture, DNS probes, kernel watcher if /dev/kmsg is
# readable), then after DURATION seconds read from /proc/<pid>:
#   status  VmHWM (peak RSS), VmRSS
#   stat    utime+stime (CPU time, clock ticks)
# Usage: scripts/collector-footprint.sh [DURATION_SECONDS] [extra collector flags...]
# Environment: GOGC, GOMEMLIMIT are passed to the collector as set.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60}
shift || true
work=$(mktemp -d)
cleanup() {
  for p in ${coll_pid:-} ${router_pid:-}; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/router" ./router
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/collector" ./collector # as deploy/docker builds it
echo "collector binary: $(stat -c %s "$work/collector") bytes (stripped)"
if go tool nm "$work/collector" 2>/dev/null | grep -q 'nats-server'; then
  echo "WARNING: the collector links nats-server"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/router" --state-dir "$work/router-state" --embedded-port "$port" --http 127.0.0.1:0 \
  --rules ./rules >"$work/router.log" 2>&1 &
router_pid=$!
for _ in $(seq 100); do
  grep -q '"jetstream provisioned"' "$work/router.log" && break
  sleep 0.1
done

"$work/collector" --nats "nats://127.0.0.1:$port" --cluster bench --node bench-node \
  --state-dir "$work/collector-state" --http 127.0.0.1:0 --heartbeat 1s "$@" \
  >"$work/collector.log" 2>&1 &
coll_pid=$!
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$coll_pid/stat"; }
sleep 5 # start-up (reboot check, first posture) is not idle
start_ticks=$(cpu)
start_time=$(date +%s.%N)
sleep "$duration"
end_ticks=$(cpu)
end_time=$(date +%s.%N)
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$coll_pid/status")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$coll_pid/status")
threads=$(awk '/^Threads/ {print $2}' "/proc/$coll_pid/status")
anon=$(awk '/^RssAnon/ {print $2}' "/proc/$coll_pid/status")
file=$(awk '/^RssFile/ {print $2}' "/proc/$coll_pid/status")
awk -v hwm="$hwm" -v rss="$rss" -v anon="$anon" -v file="$file" -v t0="$start_ticks" -v t1="$end_ticks" -v hz="$hz" \
    -v w0="$start_time" -v w1="$end_time" -v th="$threads" 'BEGIN {
  cpu = (t1 - t0) / hz; wall = w1 - w0
  printf "VmHWM %.1f MB, VmRSS %.1f MB (anonymous %.1f MB, binary pages %.1f MB), threads %d\n", hwm/1024, rss/1024, anon/1024, file/1024, th
  printf "CPU %.2f s over %.0f s idle = %.2f%% of one core\n", cpu, wall, 100*cpu/wall
}'
if ! kill -0 "$coll_pid" 2>/dev/null; then
  echo "collector exited early:"; cat "$work/collector.log"; exit 1
fi
