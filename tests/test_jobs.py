"""Async jobs: queue, status, result download, signed webhook with retries, nothing lost on restarts."""
import hashlib
import hmac
import http.server
import json
import signal
import threading
from typing import ClassVar

import httpx
import pytest

from tests import processes
from tests.conftest import DATA
from tests.waiting import wait_for

SECRET = "webhook-secret"


class Receiver(http.server.BaseHTTPRequestHandler):
    calls: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        jid = json.loads(body)["id"]
        first = not any(json.loads(b)["id"] == jid for b, _ in Receiver.calls)
        Receiver.calls.append((body, dict(self.headers)))
        # Fail each job's first delivery so the sender's retry is exercised.
        self.send_response(500 if first else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def webhook():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def orchestrator(urls, data_dir, **env):
    return processes.orchestrator(urls, data_dir, **{"WEBHOOK_SECRET": SECRET, **env})


def submit(base, text, ref=None, **form):
    ref = ref if ref is not None else (DATA / "ref_awb.wav").read_bytes()
    return httpx.post(base + "/v1/jobs", files={"reference_audio": ("r.wav", ref)},
                      data={"text": text, "vocoder": "griffinlim", **form}, timeout=60)


def job_status(base, jid) -> dict:
    return httpx.get(f"{base}/v1/jobs/{jid}").json()


def wait_for_job(base, jid, statuses=("succeeded", "failed"), timeout=240) -> dict:
    return wait_for(lambda: (job := job_status(base, jid))["status"] in statuses and job, timeout, interval=0.3,
                    what=f"job {jid} to reach {'/'.join(statuses)}")


def test_job_runs_and_webhook_is_signed_and_retried(urls, tmp_path, webhook):
    svc = orchestrator(urls, tmp_path).start()
    try:
        svc.wait_ready()
        r = submit(svc.url, "Queued words.", webhook_url=webhook, format="flac")
        assert r.status_code == 202 and r.json()["status"] in ("queued", "running")
        jid = r.json()["id"]
        job = wait_for_job(svc.url, jid)
        assert job["status"] == "succeeded" and job["result_url"] == f"/v1/jobs/{jid}/result"
        res = httpx.get(svc.url + job["result_url"])
        assert res.status_code == 200 and res.headers["content-type"] == "audio/flac" and len(res.content) > 1000
        def deliveries():
            return [(b, h) for b, h in Receiver.calls if json.loads(b)["id"] == jid]
        wait_for(lambda: len(deliveries()) >= 2, 30, what="the retried webhook delivery")
        body, headers = deliveries()[-1]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Voxclone-Signature"] == expected
        assert json.loads(body) == {"id": jid, "status": "succeeded", "error": None,
                                    "result_path": f"/v1/jobs/{jid}/result"}
        assert len(deliveries()) == 2  # the first delivery got a 500 and was retried
        wait_for(lambda: job_status(svc.url, jid)["webhook"] == "delivered", 10, what="webhook status delivered")

        bad = submit(svc.url, "Never spoken.", ref=b"not audio")
        failed = wait_for_job(svc.url, bad.json()["id"])
        assert failed["status"] == "failed" and "audio" in failed["error"]
        r = httpx.get(f"{svc.url}/v1/jobs/{bad.json()['id']}/result")
        assert r.status_code == 409 and "failed" in r.json()["error"]["message"]
        assert httpx.get(f"{svc.url}/v1/jobs/job_nope").status_code == 404
    finally:
        svc.stop()


def test_no_job_lost_across_restarts_and_worker_death(urls, tmp_path):
    web = orchestrator(urls, tmp_path, JOB_WORKERS="0").start()
    worker = processes.job_worker(urls, tmp_path, JOB_LEASE_S="4", WEBHOOK_SECRET=SECRET)
    try:
        web.wait_ready()
        ids = [submit(web.url, f"Job number {i}.").json()["id"] for i in range(3)]
        web.stop()                                   # accepted jobs survive the orchestrator going away
        web.start().wait_ready()
        assert [httpx.get(f"{web.url}/v1/jobs/{j}").json()["status"] for j in ids] == ["queued"] * 3
        worker.start()
        wait_for(lambda: job_status(web.url, ids[0])["status"] != "queued", 60, what="the worker to take a job")
        worker.stop(signal.SIGKILL)                  # dies mid-job: its lease runs out, the job is re-run
        worker.start()
        jobs = [wait_for_job(web.url, j) for j in ids]
        assert [j["status"] for j in jobs] == ["succeeded"] * 3
        assert all(httpx.get(web.url + j["result_url"]).status_code == 200 for j in jobs)
    finally:
        worker.stop()
        web.stop()
