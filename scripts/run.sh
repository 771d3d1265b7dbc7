#!/usr/bin/env bash
# Builds Parley, starts NATS (JetStream), the workers and one edge, and serves the web client.
# Stop with Ctrl-C (everything started here is stopped, gracefully).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
eval "$(scripts/bootstrap.sh | grep '^PARLEY_NATS_SERVER=' | sed 's/^/export /')"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/parley/target}"
# Overridable so tests can run a second, isolated instance.
profile="${PARLEY_PROFILE:-release}"
state="${PARLEY_STATE:-$root/.parley}"
db="${PARLEY_DB_NAME:-parley}"
export PARLEY_LISTEN="${PARLEY_LISTEN:-127.0.0.1:8080}"
nats_port="${PARLEY_NATS_PORT:-4250}"
ops_base="${PARLEY_OPS_BASE:-9100}"
mkdir -p "$state/nats" "$state/logs"

echo "[run] building ($profile)…"
# PARLEY_SKIP_BUILD=1 runs the binaries already built (benchmarks while the tree is edited).
if [ "${PARLEY_SKIP_BUILD:-}" = 1 ]; then :
elif [ "$profile" = release ]; then cargo build --release --workspace --bins; else cargo build --workspace --bins; fi
echo "[run] building the web client…"
[ "${PARLEY_SKIP_WEB_BUILD:-}" = 1 ] || (cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build --silent)

# Signing key for access tokens (the edge only ever gets the public half).
if [ ! -f "$state/jwt.key" ]; then
  openssl genpkey -algorithm ed25519 -out "$state/jwt.key"
  openssl pkey -in "$state/jwt.key" -pubout -out "$state/jwt.pub"
fi
# Without autovacuum nothing refreshes planner statistics: plans made while a table was empty
# (sequential scans) stay cached while it grows to millions of rows.
if [ "$(psql "postgres://postgres@127.0.0.1:5432/postgres" -tAc 'show autovacuum')" = off ]; then
  echo "[run] PostgreSQL has autovacuum off; turning it on (ALTER SYSTEM, reload)"
  psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "alter system set autovacuum = on" -c "select pg_reload_conf()" >/dev/null
fi
psql "postgres://postgres@127.0.0.1:5432/postgres" -tAc "select 1 from pg_database where datname='$db'" | grep -q 1 \
  || psql "postgres://postgres@127.0.0.1:5432/postgres" -qc "create database $db"

export PARLEY_NATS_URL="nats://127.0.0.1:$nats_port"
export PARLEY_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
# Keys of separate instances (a test run beside a dev run) never mix.
export PARLEY_REDIS_PREFIX="${PARLEY_REDIS_PREFIX:-parley:$db:}"
export PARLEY_JWT_PRIVATE_KEY_FILE="$state/jwt.key" PARLEY_JWT_PUBLIC_KEY_FILE="$state/jwt.pub"
export PARLEY_WEB_DIR="$root/web/dist"
bin="$CARGO_TARGET_DIR/$profile"
pids=()
cleanup() { echo "[run] stopping…"; kill -TERM "${pids[@]}" 2>/dev/null || true; wait || true; }
trap cleanup EXIT INT TERM

# NATS users: one NKey per binary (seeds in $keys, kept across runs); the server reads the
# public keys from its environment and refuses clients without one (docs/security.md).
# Which binaries run, in which order, comes from binaries.txt; the setup binary also makes
# the keys.
of_kind() { awk -v k="$1" '!/^#/ && $2 == k {print $1}' binaries.txt; }
keys="$state/nats-keys"
for b in $(of_kind setup); do "$bin/$b" auth keys --dir "$keys" >/dev/null; done
creds() { echo "$keys/parley-$1.nk"; }
( set -a; . "$keys/nkeys.env"; exec "$PARLEY_NATS_SERVER" -c jetstream/nats-dev.conf -p "$nats_port" -sd "$state/nats" ) >"$state/logs/nats.log" 2>&1 & pids+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.1; done
# A worker's ops port is PARLEY_OPS_BASE + its place among the workers (directory 9101,
# persist 9102, …). Each runs with its own NATS key (parley-<name>.nk).
for b in $(of_kind setup); do PARLEY_NATS_CREDS=$(creds "${b#parley-}") "$bin/$b" apply; done
i=0
for b in $(of_kind worker); do
  i=$((i + 1))
  PARLEY_NATS_CREDS=$(creds "${b#parley-}") PARLEY_OPS_LISTEN=127.0.0.1:$((ops_base + i)) \
    "$bin/$b" 2>"$state/logs/${b#parley-}.log" & pids+=($!)
done
for b in $(of_kind edge); do
  PARLEY_NATS_CREDS=$(creds "${b#parley-}") "$bin/$b" 2>"$state/logs/${b#parley-}.log" & pids+=($!)
done
sleep 1
echo
for _ in $(seq 1 100); do curl -sf "http://$PARLEY_LISTEN/readyz" >/dev/null && break; sleep 0.2; done
echo "Parley is running: open http://$PARLEY_LISTEN/  (logs in $state/logs, Ctrl-C stops)"
wait -n "${pids[@]}"
