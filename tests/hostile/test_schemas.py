"""Property-based fuzzing of each stage's OpenAPI schema with schemathesis, against a real process: no 5xx,
no request past a deadline (a timed-out request fails the run), every status, content type and body as the
schema documents them (errors in the one JSON error shape), and the service alive afterwards.

Bounded so CI stays fast: 10 examples per operation and a fixed seed. Every check runs, also
`positive_data_acceptance` (schema-valid requests are accepted): the schemas state each limit from the
running service's settings; the few rules no JSON Schema can state (a compact array's base64 length against
its shape, equal row lengths, silent audio...) are listed in schemathesis_hooks.py, and a rejection for any
other reason fails the run.
"""
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT
from tests.hostile.stages import start

HERE = Path(__file__).parent
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
# What counts as a hang (schemathesis' max_response_time check, which `--checks all` runs with a 10 s default):
# a short HiFi-GAN speech request took 10.2 s with four pytest workers on 2 cores, a slow machine, not a hang.
MAX_RESPONSE_S = 60
# Small limits keep each generated request cheap; the limits are part of the schema's promises all the same.
STAGES = {"encoder": {"max_audio_seconds": 5}, "synthesizer": {"max_frames_per_sentence": 20},
          "vocoder": {"vocoder_checkpoint": "", "max_mel_frames": 200, "griffin_lim_iters": 2}}


@pytest.mark.parametrize("stage", STAGES)
def test_schemathesis_finds_nothing(stage):
    svc = start(stage, **STAGES[stage])
    try:
        run = subprocess.run([SCHEMATHESIS, "--config-file", str(HERE / "schemathesis.toml"), "run", svc.url + "/openapi.json", "--checks", "all",
                              "--max-examples", "10", "--request-timeout", "60", "--seed", "1", "--no-color",
                              "--max-response-time", str(MAX_RESPONSE_S)],
                             check=False, capture_output=True, text=True, timeout=600, cwd=ROOT,
                             env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.hostile.schemathesis_hooks",
                                  "PYTHONPATH": str(ROOT)})
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert httpx.get(svc.url + "/healthz").status_code == 200
    finally:
        svc.stop()
