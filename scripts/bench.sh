#!/usr/bin/env bash
# Runs every measurement of docs/BENCHMARKS.md: the machine, the Go benchmarks, and the load
# generator's runs. Waits (at most 30 minutes) for the 1-minute load average to fall below 1.5
# first, so the figures are not someone else's build. Results go to $OUT (default a new
# temporary directory): one .txt per run (the table) and one .json.
#
#   scripts/bench.sh            # everything (about 12 minutes)
#   QUICK=1 scripts/bench.sh    # the load generator's runs only
#   ONLY=postgres scripts/bench.sh  # the SQLite / PostgreSQL / replicas comparison only
#   WAIT_TICKS=0 …                  # do not wait for a quiet machine (the load is still printed)
#
# The PostgreSQL runs use the server named by QUEUEBRIDGE_TEST_POSTGRES (default
# postgres://postgres@127.0.0.1:5432/test?sslmode=disable), a fresh schema each (dropped after),
# and are skipped when psql cannot reach it.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d /tmp/queuebridge-bench.XXXXXX)}
mkdir -p "$OUT"

load1() { cut -d' ' -f1 /proc/loadavg; }
for _ in $(seq 1 "${WAIT_TICKS:-180}"); do
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

if [ -z "${QUICK:-}" ] && [ "${ONLY:-}" != postgres ]; then
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
PGURL=${QUEUEBRIDGE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
export PGOPTIONS=--client-min-messages=warning
# pgschema NAME: a fresh schema; prints a DATABASE_URL whose search_path is it.
pgschema() {
	local schema="bench_$$_$1"
	psql "$PGURL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" >/dev/null
	case $PGURL in *\?*) echo "$PGURL&search_path=$schema" ;; *) echo "$PGURL?search_path=$schema" ;; esac
}
postgres_runs() {
	if ! psql "$PGURL" -qc 'SELECT 1' >/dev/null 2>&1; then
		echo "== PostgreSQL not reachable at $PGURL: its runs are skipped"
		return
	fi
	lg flow-200-sqlite -scenario flow -rate 200 -duration 10s
	lg flow-200-pg1 -scenario flow -rate 200 -duration 10s -db "$(pgschema flow200r1)"
	lg flow-200-pg3 -scenario flow -rate 200 -duration 10s -db "$(pgschema flow200r3)" -replicas 3
	# Where PostgreSQL meets created→Calls.create p99 < 20 ms on this machine: lower rates.
	lg flow-100-pg1 -scenario flow -rate 100 -duration 10s -db "$(pgschema flow100r1)"
	lg flow-150-pg1 -scenario flow -rate 150 -duration 10s -db "$(pgschema flow150r1)"
	lg flow-150-pg3 -scenario flow -rate 150 -duration 10s -db "$(pgschema flow150r3)" -replicas 3
	lg flow-full-sqlite -scenario flow -c 64 -duration 10s
	lg flow-full-pg1 -scenario flow -c 64 -duration 10s -db "$(pgschema flowfullr1)"
	lg flow-full-pg3 -scenario flow -c 64 -duration 10s -db "$(pgschema flowfullr3)" -replicas 3
	lg retry-sqlite -scenario dial-queue-retry -n 20000 -c 64
	lg retry-pg1 -scenario dial-queue-retry -n 20000 -c 64 -db "$(pgschema retryr1)"
	lg first-answer-pg1 -scenario dial-queue -n 20000 -c 64 -db "$(pgschema firstr1)"
	lg first-answer-2000-pg1 -scenario dial-queue -rate 2000 -duration 10s -db "$(pgschema first2000r1)"
	psql "$PGURL" -qc "$(psql "$PGURL" -Atc "SELECT string_agg('DROP SCHEMA ' || nspname || ' CASCADE', '; ') FROM pg_namespace WHERE nspname LIKE 'bench\_$$\_%'")" >/dev/null 2>&1 || true
}
if [ "${ONLY:-}" = postgres ]; then
	postgres_runs
	echo "results in $OUT"
	exit 0
fi
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
postgres_runs
echo "results in $OUT"
