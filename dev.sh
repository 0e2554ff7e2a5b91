#!/usr/bin/env bash
# One command per chore. Each sets up what it needs first, so it works on a fresh machine.
#
#   ./dev.sh demo [--port N] [--no-browser] [--fresh]   set up what the demo needs, then run it
#   ./dev.sh test [pytest args]               set up, then lint, type-check and run the whole suite
#   ./dev.sh lint | types | format            ruff check / mypy --strict / ruff format
#   ./dev.sh bench [labdeck bench args]       the benchmarks against their baselines
#   ./dev.sh build                            the sdist and wheel, dashboard assets built in, into dist/
#   ./dev.sh screenshots                      the docs' screenshots of every panel (docs/images/)
#   ./dev.sh setup                            only the set-up the tests need: .venv, dashboard, Chromium, Redis
#
# Set-up steps are idempotent and skip work already done: the virtualenv in .venv (rebuilt
# when pyproject.toml changes), the dashboard's npm packages (from ui/package-lock.json) and
# build, and for the tests Chromium from Debian's packages, a Redis server if none answers and
# dicompare in its own virtualenv (.venv-dicompare).
# The demo installs only labdeck and the dashboard's runtime packages: no test tools.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# setup_python [runtime]: labdeck with its test tools, or (runtime) only what it runs on.
setup_python() {
    local what=${1:-test}
    local stamp=$VENV/.installed-$what
    if [ ! -x $VENV/bin/python ]; then
        say "creating $VENV"
        "$PYTHON" -m venv $VENV
    fi
    if [ -f $VENV/.installed-test ] && [ ! pyproject.toml -nt $VENV/.installed-test ]; then
        return  # the test install has everything the runtime one would
    fi
    if [ ! -f $stamp ] || [ pyproject.toml -nt $stamp ]; then
        local target="." label="labdeck"
        [ "$what" = test ] && target=".[test]" label="labdeck and its test tools"
        say "installing $label into $VENV"
        $VENV/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        $VENV/bin/python -m pip install --quiet --disable-pip-version-check -e "$target"
        touch $stamp
    fi
}

# setup_ui [runtime]: the dashboard's npm packages (runtime: without the test-only ones,
# such as axe-core), then its build.
setup_ui() {
    local what=${1:-test}
    if ! command -v npm >/dev/null; then
        say "npm not found: installing Node.js from Debian's packages"
        as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
    fi
    local stamp=ui/node_modules/.installed-$what
    if [ -f ui/node_modules/.installed-test ] && [ ! ui/package-lock.json -nt ui/node_modules/.installed-test ]; then
        stamp=ui/node_modules/.installed-test
    fi
    if [ ! -f $stamp ] || [ ui/package-lock.json -nt $stamp ]; then
        say "installing the dashboard's npm packages (ui/package-lock.json)"
        if [ "$what" = runtime ]; then
            npm --prefix ui ci --omit=dev --no-audit --no-fund --loglevel=error
        else
            npm --prefix ui ci --no-audit --no-fund --loglevel=error
        fi
        touch $stamp
    fi
    npm --prefix ui run --silent build
}

# dicompare (the DICOM schema checker labdeck's references interoperate with) pins
# pydicom < 3 and labdeck needs pydicom 3: the agreement tests run it from its own venv.
setup_dicompare() {
    local venv=.venv-dicompare req=tests/watch/dicompare-requirements.txt
    if [ ! -f $venv/.installed ] || [ $req -nt $venv/.installed ]; then
        say "installing dicompare into $venv for the agreement tests ($req)"
        "$PYTHON" -m venv $venv
        $venv/bin/python -m pip install --quiet --disable-pip-version-check -r $req
        touch $venv/.installed
    fi
}

setup_chromium() {
    if [ ! -x /usr/bin/chromium ]; then
        say "installing Chromium from Debian's packages for the browser tests"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
}

setup_redis() {
    if redis_answers; then return; fi
    if ! command -v redis-server >/dev/null; then
        say "installing Redis from Debian's packages"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
    say "starting a Redis server on 127.0.0.1:6379"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/labdeck-test-redis.log"
    for _ in $(seq 50); do redis_answers && return; sleep 0.1; done
    say "Redis did not start; see ${TMPDIR:-/tmp}/labdeck-test-redis.log"
    return 1
}

redis_answers() {
    $VENV/bin/python - <<'EOF' 2>/dev/null
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
EOF
}

lint() { $VENV/bin/ruff check src tests; }
types() { $VENV/bin/mypy; }

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
    setup)
        setup_python; setup_ui; setup_chromium; setup_redis; setup_dicompare ;;
    demo)
        setup_python runtime; setup_ui runtime
        exec $VENV/bin/labdeck demo "$@" ;;
    test)
        setup_python; setup_ui; setup_chromium; setup_redis; setup_dicompare
        say "ruff"; lint
        say "mypy --strict"; types
        say "pytest"
        exec $VENV/bin/python -m pytest "$@" ;;
    lint) setup_python; lint ;;
    types) setup_python; types ;;
    format) setup_python; $VENV/bin/ruff format src tests; $VENV/bin/ruff check --fix src tests ;;
    build)
        setup_python; setup_ui
        rm -rf dist
        $VENV/bin/python -m build --no-isolation --outdir dist .
        ls -l dist ;;
    bench)
        setup_python; setup_ui
        exec $VENV/bin/labdeck bench "$@" ;;
    screenshots)
        setup_python; setup_ui; setup_chromium
        exec $VENV/bin/python -m tests.browser.screenshots "$@" ;;
    help|-h|--help)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
    *)
        echo "dev.sh: unknown chore '$cmd' (try: ./dev.sh help)" >&2; exit 2 ;;
esac
