#!/usr/bin/env bash
# A/B of `parley-bench latency` between two builds on this machine, runs alternating, so that
# "before" and "after" share the machine's state (disk, caches, other load).
#
#   bench/ab-latency.sh ROUNDS SECONDS  A_REPO A_BINDIR  B_REPO B_BINDIR  [OUT]
#
# *_REPO: a checkout whose scripts/run.sh starts that build; *_BINDIR: a directory holding its
# release binaries (parley-edge, the workers, parley-jetstream, parley-bench). Each run gets
# a fresh database and state directory. Extra `parley-bench latency` flags: PARLEY_BENCH_ARGS.
# The summary of every run goes to OUT (default bench/results/ab-<time>.txt) and stdout.
set -euo pipefail
rounds=$1 seconds=$2 a_repo=$3 a_bin=$4 b_repo=$5 b_bin=$6
out=${7:-bench/results/ab-$(date -u +%Y%m%dT%H%M%SZ).txt}
mkdir -p "$(dirname "$out")"
# Every benchmark client comes from 127.0.0.1: per-address budgets (builds that have them)
# are raised.
export PARLEY_ADDR_ACCEPT_RATE=1000000 PARLEY_ADDR_ACCEPT_BURST=1000000 PARLEY_ADDR_REST_RATE=1000000 \
  PARLEY_ADDR_REST_BURST=1000000 PARLEY_ADDR_AUTH_RATE=1000000 PARLEY_ADDR_AUTH_BURST=1000000

run_one() { # label repo bindir round
  local label=$1 repo=$2 bindir=$3 round=$4
  local target state db port
  target=$(mktemp -d) state=$(mktemp -d) db="parley_ab_${label,,}_$round" port=18180
  mkdir -p "$target/release"
  cp "$bindir"/parley-* "$target/release/"
  PARLEY_PROFILE=release CARGO_TARGET_DIR="$target" PARLEY_SKIP_BUILD=1 PARLEY_SKIP_WEB_BUILD=1 \
    PARLEY_STATE="$state" PARLEY_LISTEN=127.0.0.1:$port PARLEY_NATS_PORT=$((port + 1)) \
    PARLEY_OPS_BASE=$((port + 10)) PARLEY_DB_NAME="$db" PARLEY_LOG=warn \
    setsid "$repo/scripts/run.sh" >"$state/run.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  local creds=()
  [ -f "$state/nats-keys/parley-bench.nk" ] && creds=(--nats-creds "$state/nats-keys/parley-bench.nk")
  echo "[ab] $label round $round" >&2
  # shellcheck disable=SC2086
  if ! "$target/release/parley-bench" latency --url "http://127.0.0.1:$port" \
    --nats-url "nats://127.0.0.1:$((port + 1))" "${creds[@]}" --seconds "$seconds" \
    --results-dir "$state/results" ${PARLEY_BENCH_ARGS:-} >"$state/bench.out" 2>"$state/bench.err"; then
    echo "[ab] $label round $round failed:" >&2
    head -n 3 "$state/bench.err" >&2; tail -n 3 "$state/run.log" >&2
  fi
  sed "s/^/$label $round | /" "$state/bench.out" | tee -a "$out"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "drop database if exists $db" >/dev/null 2>&1 || true
  rm -rf "$target" "$state"
}

{ echo "# parley-bench latency A/B, $(date -u +%FT%TZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# A: $a_repo ($(git -C "$a_repo" rev-parse --short HEAD))  B: $b_repo ($(git -C "$b_repo" rev-parse --short HEAD))"
} | tee "$out"
for r in $(seq 1 "$rounds"); do
  run_one A "$a_repo" "$a_bin" "$r"
  run_one B "$b_repo" "$b_bin" "$r"
done
