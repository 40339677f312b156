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
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@" tests
