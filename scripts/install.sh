#!/usr/bin/env bash
# Create .venv and install voxclone's dependencies (CPU torch). Safe to re-run: it skips what is done.
#   scripts/install.sh          serving dependencies
#   scripts/install.sh --dev    plus the test tools
#   scripts/install.sh --train  plus corpus/training/evaluation tools (needs flite/festival, see README)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
REQ=requirements.txt
case "${1:-}" in
    --dev) REQ=requirements-dev.txt ;;
    --train) REQ=requirements-train.txt ;;
esac
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.installed-$(cat requirements*.txt | sha256sum | cut -c1-12)-$(basename $REQ .txt)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r "$REQ"
    # resemblyzer (the default encoder weights) pins the sdist `webrtcvad`, which needs pkg_resources to
    # build; `webrtcvad-wheels` (in requirements.txt) provides the same module, so skip resemblyzer's deps.
    .venv/bin/python -m pip install -q --no-deps "resemblyzer==0.1.4"
    .venv/bin/python -c "import webrtcvad, torch, resemblyzer, fastapi" >/dev/null
    touch "$stamp"
fi
