#!/usr/bin/env bash
# Runs a real, headless Directus (npm `directus@11.3.5`, the last line that runs
# on Node 20) on SQLite at 127.0.0.1 for the Directus connector's tests.
#
#   setup.sh install           install Directus once into $DIRECTUS_HOME
#                              (default <repo>/target/tools/directus); idempotent,
#                              and safe when several processes call it at once.
#   setup.sh start DIR PORT    fresh instance: SQLite data in DIR (wiped first),
#                              bootstrapped with a static admin token, listening
#                              on 127.0.0.1:PORT. Waits for /server/health, then
#                              prints DIRECTUS_URL=, DIRECTUS_TOKEN=, DIRECTUS_PID=.
#   setup.sh stop DIR          stops the instance started in DIR.
#
# Environment for `start`:
#   DIRECTUS_TOKEN            the static admin token (default ci-static-admin-token)
#   DIRECTUS_RATE_LIMIT=N     enable Directus' own rate limiter: N points per
#   DIRECTUS_RATE_DURATION=S  S seconds (default 2) per client IP, then 429 with
#                             Retry-After (https://docs.directus.io/self-hosted/config-options.html#rate-limiting)
#   DIRECTUS_WATCH_PID=P      stop the server as soon as process P is gone, so a
#                             test process that dies without cleaning up never
#                             leaves a server behind.
#
# The install is shared (one ~470 MB node_modules), each instance's data is its own.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HOME_DIR=${DIRECTUS_HOME:-$ROOT/target/tools/directus}
VERSION=11.3.5
BIN=$HOME_DIR/node_modules/.bin/directus

die() { echo "directus setup: $*" >&2; exit 1; }

need_node() {
  command -v node >/dev/null && command -v npm >/dev/null ||
    die "node and npm are needed (Node 20: apt-get install nodejs npm)"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [[ $major -ge 18 ]] || die "Node >= 18 is needed for directus@$VERSION, found $(node --version)"
}

installed() {
  [[ -x $BIN && -f $HOME_DIR/.installed-$VERSION ]]
}

install() {
  need_node
  installed && return 0
  mkdir -p "$HOME_DIR"
  # One installer at a time; whoever waited finds the work done.
  exec 9>"$HOME_DIR/.install.lock"
  flock 9
  if ! installed; then
    command -v g++ >/dev/null && command -v make >/dev/null ||
      die "the sqlite3 module builds from source: install g++ and make (apt-get install build-essential)"
    echo "directus setup: installing directus@$VERSION into $HOME_DIR (minutes: isolated-vm and sqlite3 build from source)" >&2
    [[ -f $HOME_DIR/package.json ]] || echo '{"name":"synchost-directus","private":true}' >"$HOME_DIR/package.json"
    (cd "$HOME_DIR" && npm install "directus@$VERSION" --no-audit --no-fund --loglevel=error) >&2 ||
      die "npm install directus@$VERSION failed"
    [[ -x $BIN ]] || die "npm install finished but $BIN is missing"
    touch "$HOME_DIR/.installed-$VERSION"
  fi
  flock -u 9
}

start() {
  local dir=${1:?usage: setup.sh start DIR PORT} port=${2:?usage: setup.sh start DIR PORT}
  installed || install
  local url=http://127.0.0.1:$port token=${DIRECTUS_TOKEN:-ci-static-admin-token}
  local rl=${DIRECTUS_RATE_LIMIT:-} rd=${DIRECTUS_RATE_DURATION:-2}
  # The data dir is wiped: refuse one that is not empty and not ours.
  if [[ -d $dir && -n $(ls -A "$dir") && ! -f $dir/.env ]]; then
    die "$dir is not empty and holds no earlier instance (.env): refusing to wipe it"
  fi
  [[ -f $dir/directus.pid ]] && stop "$dir"
  rm -rf "$dir"
  mkdir -p "$dir/data" "$dir/uploads" "$dir/ext"
  dir=$(cd "$dir" && pwd)
  # Directus reads .env from its working directory, and a value there wins
  # over the process environment: every setting goes in the file.
  cat >"$dir/.env" <<EOF
HOST=127.0.0.1
PORT=$port
PUBLIC_URL=$url
DB_CLIENT=sqlite3
DB_FILENAME=$dir/data/directus.db
KEY=ci-key-000000000000000000000000
SECRET=ci-secret-000000000000000000000
ADMIN_EMAIL=admin@example.com
ADMIN_PASSWORD=s3cret
ADMIN_TOKEN=$token
TELEMETRY=false
LOG_LEVEL=warn
STORAGE_LOCATIONS=local
STORAGE_LOCAL_ROOT=$dir/uploads
EXTENSIONS_PATH=$dir/ext
CACHE_ENABLED=false
RATE_LIMITER_ENABLED=$([[ -n $rl ]] && echo true || echo false)
RATE_LIMITER_STORE=memory
RATE_LIMITER_POINTS=${rl:-50}
RATE_LIMITER_DURATION=$rd
EOF
  (cd "$dir" && "$BIN" bootstrap >bootstrap.log 2>&1) ||
    { tail -20 "$dir/bootstrap.log" >&2; die "directus bootstrap failed (log: $dir/bootstrap.log)"; }
  # setsid: the server gets a process group of its own, so `stop` (and the
  # watchdog) end it and its children together.
  (cd "$dir" && exec setsid "$BIN" start >directus.log 2>&1 </dev/null) &
  local pid=$!
  echo "$pid" >"$dir/directus.pid"
  if [[ -n ${DIRECTUS_WATCH_PID:-} ]]; then
    # Stops the server when the watched process is gone (e.g. a test killed
    # before its Drop ran), or when the server has stopped by itself.
    (
      trap '' HUP
      while kill -0 "$DIRECTUS_WATCH_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      kill -TERM -- "-$pid" 2>/dev/null || true
    ) </dev/null >/dev/null 2>&1 &
    disown
  fi
  local i
  for i in $(seq 1 600); do
    curl -sf "$url/server/health" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! curl -sf "$url/server/health" >/dev/null 2>&1; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    tail -20 "$dir/directus.log" >&2
    die "directus did not become healthy on $url (log: $dir/directus.log)"
  fi
  echo "DIRECTUS_URL=$url"
  echo "DIRECTUS_TOKEN=$token"
  echo "DIRECTUS_PID=$pid"
}

stop() {
  local dir=${1:?usage: setup.sh stop DIR}
  [[ -f $dir/directus.pid ]] || return 0
  local pid
  pid=$(cat "$dir/directus.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  rm -f "$dir/directus.pid"
}

case ${1:-} in
  install) install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) die "usage: setup.sh install | start DIR PORT | stop DIR" ;;
esac
