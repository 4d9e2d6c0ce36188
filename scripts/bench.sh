#!/usr/bin/env bash
# Runs every measurement of docs/BENCHMARKS.md: the machine, the Go benchmarks, and the load
# generator's runs. Waits (at most 30 minutes) for the 1-minute load average to fall below 1.5
# first, so the figures are not someone else's build. Results go to $OUT (default a new
# temporary directory): one .txt per run (the table) and one .json.
#
#   scripts/bench.sh            # everything (about 5 minutes)
#   QUICK=1 scripts/bench.sh    # the load generator's runs only
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d /tmp/queuebridge-bench.XXXXXX)}
mkdir -p "$OUT"

load1() { cut -d' ' -f1 /proc/loadavg; }
for _ in $(seq 1 180); do
	awk -v l="$(load1)" 'BEGIN { exit !(l < 1.5) }' && break
	sleep 10
done
{
	echo "date: $(date -u +%FT%TZ)"
	echo "uptime: $(uptime)"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	free -h
	go version
} | tee "$OUT/machine.txt"

if [ -z "${QUICK:-}" ]; then
	go test ./handlers ./taskrouter -run '^$' -bench 'Signature|RenderTwiML|ParseEvent|Request' -benchmem | tee "$OUT/bench-handlers.txt"
	go test ./store -run '^$' -bench . -benchtime 2000x | tee "$OUT/bench-store.txt"
fi

go build -o "$OUT/loadgen" ./scripts/loadgen
lg() { # name, arguments…
	local name=$1
	shift
	echo "== $name: loadgen $* (load $(load1))" | tee "$OUT/$name.txt"
	"$OUT/loadgen" "$@" -json-out "$OUT/$name.json" | tee -a "$OUT/$name.txt"
}
lg dial-queue-full -scenario dial-queue -n 100000 -c 64 -duration 10s
lg dial-queue-2000 -scenario dial-queue -rate 2000 -duration 10s
lg dial-queue-2000-sse100 -scenario dial-queue -rate 2000 -duration 10s -sse 100 -sse-stalled 10
lg created-full -scenario created -c 64 -duration 10s
lg created-2000 -scenario created -rate 2000 -duration 10s
lg flow-200 -scenario flow -rate 200 -duration 10s
lg flow-full -scenario flow -c 64 -duration 10s
lg inflight-10k -scenario created -rate 2000 -n 10000
for n in 1000 10000 100000; do
	lg "dial-queue-2000-stored-$n" -scenario dial-queue -rate 2000 -duration 5s -preload "$n"
	lg "created-1000-stored-$n" -scenario created -rate 1000 -duration 5s -preload "$n"
done
echo "results in $OUT"
