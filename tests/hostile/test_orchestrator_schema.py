"""Property-based fuzzing of the orchestrator's OpenAPI schema with schemathesis, against a real orchestrator
process in front of real stages, with every check (`--checks all`, as the stages in test_schemas.py): no 5xx,
every status code and content type documented, responses match their schemas, `Allow` on 405 lists the
path's methods, schema-valid requests accepted and schema-violating ones refused, and the service alive
afterwards.

What no schema can state (audio bytes that are not audio, URLs a pattern cannot check and what the network
says about them, empty uploads) is forgiven by its error message in schemathesis_hooks.py, which also turns
negative_data_rejection off for POST /v1/studio/speak alone (why: there). Any other rejection fails the run.

Bounded so it fits CI: the time budget, not the example count, ends the fuzzing. With 30 s it reaches all 21
operations in both the coverage and the fuzzing phase (1416 generated cases, seed 7, 2-core machine; 60 s gave
1943 cases and found nothing more, at twice the suite's longest test); the test fails if any is left out.
"""
import os
import re
import subprocess

import httpx

from tests.conftest import ROOT
from tests.hostile.test_orchestrator import orchestrator
from tests.hostile.test_schemas import HERE, MAX_RESPONSE_S, SCHEMATHESIS


def test_schemathesis_finds_no_failure_in_the_orchestrator(urls, tmp_path):
    svc = orchestrator(urls, tmp_path, MAX_TEXT_CHARS="60").start()
    try:
        svc.wait_ready()
        run = subprocess.run([SCHEMATHESIS, "--config-file", str(HERE / "schemathesis.toml"), "run",
                              svc.url + "/openapi.json", "--checks", "all", "-n", "4",
                              "--phases", "examples,coverage,fuzzing", "--max-time", "30", "--seed", "7",
                              "--request-timeout", "120", "--max-response-time", str(MAX_RESPONSE_S), "-w", "1",
                              "--no-color"],
                             capture_output=True, text=True, timeout=420, cwd=ROOT, check=False,
                             env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.hostile.schemathesis_hooks",
                                  "PYTHONPATH": str(ROOT)})
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        tested = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", run.stdout)
        assert tested and tested[1] == tested[2] == tested[3], run.stdout[-2000:]  # no operation left out
        print(re.search(r"\d+ generated.*", run.stdout)[0])  # the case count, for the log (pytest -s)
        assert httpx.get(svc.url + "/healthz").status_code == 200  # alive after the run
    finally:
        svc.stop()
