#!/usr/bin/env bash
# Install (first run only) and start all four services on 127.0.0.1 with the default models:
# orchestrator :8000, encoder :8001, synthesizer :8002, vocoder :8003. Ctrl-C stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/python -m common.stack "$@"
