#!/usr/bin/env bash
# Install (first run only) and run the whole test suite: golden RTVC equivalence, every route over real
# HTTP, four-process integration. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
# The web-page test drives Debian's chromium (no browser download); install it when we can.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "warning: could not install chromium; the web-page test will fail" >&2
fi
export PYTHONPATH="$PWD"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@" tests
