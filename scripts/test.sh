#!/usr/bin/env bash
# Install (first run only) and run the whole test suite: golden RTVC equivalence, every route over real
# HTTP, four-process integration. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
export PYTHONPATH="$PWD"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@" tests
