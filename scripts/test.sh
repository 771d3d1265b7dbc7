#!/usr/bin/env bash
# Every test of Parley: formatting, lints, Rust unit + black-box integration tests over real
# nats-server/PostgreSQL/Redis, the web client's unit tests and build, and the browser
# end-to-end journey in headless Chromium against a real running Parley (PARLEY_E2E=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
eval "$(scripts/bootstrap.sh | grep '^PARLEY_NATS_SERVER=' | sed 's/^/export /')"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/parley/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "compose.yaml: valid, and its binaries, PARLEY_* variables and mounts exist"
scripts/check-compose.sh
step "rustfmt"
cargo fmt --all -- --check
step "tidy: binaries.txt and what follows it, crate graph, subjects (tidy/tests)"
cargo test -p parley-tidy --no-fail-fast
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "build binaries"
cargo build --workspace --bins
step "Rust tests (unit + integration over real services)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --exclude parley-tidy --no-fail-fast --test-threads 4
else
  cargo test --workspace --exclude parley-tidy --no-fail-fast -- --test-threads 4
fi

step "web: install, unit tests, build"
(cd web && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run build)

if [ "${PARLEY_E2E:-1}" = 0 ]; then
  echo "browser e2e skipped (PARLEY_E2E=0)"
  exit 0
fi
step "web: end-to-end in headless Chromium against a running Parley"
# A separate Parley (own port range, state dir, database and Redis prefix) runs in its own
# process group, so that every process it starts is stopped however this script ends.
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
e2e_state=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
e2e_db="parley_e2e_$port"
run_pid=
e2e_pid=
stop_e2e_parley() {
  # The browser journey (node + Chromium) first, then Parley.
  if [ -n "$e2e_pid" ] && kill -0 -- "-$e2e_pid" 2>/dev/null; then
    kill -TERM -- "-$e2e_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 -- "-$e2e_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$e2e_pid" 2>/dev/null || true
  fi
  e2e_pid=
  if [ -n "$run_pid" ] && kill -0 -- "-$run_pid" 2>/dev/null; then
    kill -TERM -- "-$run_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 -- "-$run_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$run_pid" 2>/dev/null || true
  fi
  run_pid=
  psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "drop database if exists $e2e_db" >/dev/null 2>&1 || true
  rm -rf "$e2e_state"
}
trap stop_e2e_parley EXIT
e2e_fail() {
  echo "e2e: $1"
  echo "--- last lines of the e2e Parley's logs ($e2e_state):"
  tail -n 20 "$e2e_state/run.log" "$e2e_state"/logs/*.log 2>/dev/null || true
  echo "e2e: 0 passed, 1 failed"
  exit 1
}
[ -x "$CHROMIUM_PATH" ] || e2e_fail "no Chromium at $CHROMIUM_PATH (scripts/bootstrap.sh installs Debian's chromium; or set CHROMIUM_PATH)"
e2e_started=$(date +%s)
PARLEY_PROFILE=debug PARLEY_STATE="$e2e_state" PARLEY_LISTEN="127.0.0.1:$port" \
  PARLEY_NATS_PORT=$((port + 1)) PARLEY_OPS_BASE=$((port + 10)) PARLEY_DB_NAME="$e2e_db" \
  PARLEY_DRAIN_SECONDS=1 PARLEY_SKIP_WEB_BUILD=1 setsid scripts/run.sh >"$e2e_state/run.log" 2>&1 &
run_pid=$!
ready=
for _ in $(seq 1 300); do
  kill -0 "$run_pid" 2>/dev/null || e2e_fail "the e2e Parley exited before it was ready"
  if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; then ready=1; break; fi
  sleep 0.5
done
[ -n "$ready" ] || e2e_fail "the e2e Parley was not ready after 150 s"
echo "Parley ready on 127.0.0.1:$port after $(( $(date +%s) - e2e_started )) s"
e2e_out="$e2e_state/e2e.out"
# In its own process group too (it is stopped with Parley if this script is interrupted);
# its output is followed live.
(cd web && PARLEY_URL="http://127.0.0.1:$port" exec setsid timeout --foreground --kill-after=10 300 npm run --silent e2e) \
  >"$e2e_out" 2>&1 &
e2e_pid=$!
tail -n +1 -f --pid="$e2e_pid" "$e2e_out" &
tail_pid=$!
wait "$e2e_pid" && e2e_rc=0 || e2e_rc=$?
wait "$tail_pid" || true
summary=$(grep -E '^e2e: [0-9]+ passed' "$e2e_out" | tail -n 1 || true)
stop_e2e_parley
echo "browser e2e took $(( $(date +%s) - e2e_started )) s"
if [ -z "$summary" ]; then
  summary="e2e: 0 passed, 1 failed (the e2e ended without a summary)"
  [ "$e2e_rc" != 0 ] || e2e_rc=1
fi
[ "$e2e_rc" = 0 ] || echo "browser e2e FAILED (screenshots in web/e2e/screenshots/)"
echo "$summary"
exit "$e2e_rc"
