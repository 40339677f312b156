#!/usr/bin/env bash
# Install (first run only) and run the whole test suite: golden RTVC equivalence, every route over real
# HTTP, four-process integration. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
# The web-page test drives Debian's chromium (no browser download); install it when we can.
# The Redis job tests start a real redis-server; the format tests decode with ffmpeg/ffprobe, an encoder
# independent of ours. All come from apt when missing.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v ffprobe >/dev/null 2>&1 || missing="$missing ffmpeg"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1 \
        || echo "warning: could not install$missing; the tests that need them will fail" >&2
fi
export PYTHONPATH="$PWD"
# Two pytest workers, one test file at a time each (a file's module-scoped stack stays in one worker): most of
# the suite waits on real processes over HTTP, so two overlap well even on 2 cores (measured on 2 cores: 725 s
# in one process, 458 s with two). TEST_WORKERS=0 runs in one process.
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n "${TEST_WORKERS:-2}" --dist loadfile "$@" tests
