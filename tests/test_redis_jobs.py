"""Jobs through a real Redis server with rq worker processes, and job results in S3-compatible storage."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from common.stack import ServiceProcess, free_port
from tests import processes
from tests.conftest import ROOT
from tests.test_jobs import SECRET, Receiver, job_status, orchestrator, submit, wait_for_job, webhook  # noqa: F401
from tests.waiting import wait_for

# Short worker timings so a SIGKILLed worker's job is retried within the test (rq's floor is 60 s + interval).
FAST_RQ = {"JOB_MONITORING_INTERVAL_S": "1", "JOB_MAINTENANCE_INTERVAL_S": "3", "JOB_WORKER_TTL_S": "20",
           "JOB_HEARTBEAT_GRACE_S": "3"}


def wait_port(url: str, timeout: float = 30) -> None:
    wait_for(lambda: httpx.get(url, timeout=1) is not None, timeout, what=f"{url} to answer")


def rq_worker(urls, data_dir, redis_url, name="worker"):
    return processes.job_worker(urls, data_dir, name, REDIS_URL=redis_url, WEBHOOK_SECRET=SECRET, **FAST_RQ)


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def crash(worker: ServiceProcess) -> None:
    """SIGKILL the worker and its work-horse (rq puts the horse in its own process group), like a lost host."""
    horses = children(worker.proc.pid)
    worker.stop(signal.SIGKILL)
    for pid in horses:
        os.kill(pid, signal.SIGKILL)


def test_redis_jobs_run_on_separate_workers(urls, tmp_path, redis_url, webhook):  # noqa: F811
    web = orchestrator(urls, tmp_path, REDIS_URL=redis_url).start()
    worker = rq_worker(urls, tmp_path / "w", redis_url)
    (tmp_path / "w").mkdir()
    try:
        web.wait_ready()
        calls_before = len(Receiver.calls)
        r = submit(web.url, "Through Redis.", webhook_url=webhook, format="ogg")
        assert r.status_code == 202 and r.json()["status"] == "queued"
        jid = r.json()["id"]
        time.sleep(1)
        assert httpx.get(f"{web.url}/v1/jobs/{jid}").json()["status"] == "queued"  # nothing runs jobs in-process
        worker.start()
        job = wait_for_job(web.url, jid, timeout=120)
        assert job["status"] == "succeeded" and job["attempts"] == 1
        res = httpx.get(web.url + job["result_url"])
        assert res.status_code == 200 and res.headers["content-type"] == "audio/ogg" and res.content[:4] == b"OggS"
        ready = httpx.get(web.url + "/readyz").json()
        assert ready["checks"]["jobs"] == {"ok": True, "queue": "redis", "workers": 1}
        # "pending" until the orchestrator's webhook task has posted it: wait for the outcome, not the first state
        outcome = wait_for(lambda: (state := job_status(web.url, jid)["webhook"]) not in (None, "pending") and state,
                           30, what="the webhook outcome")
        assert outcome == "delivered"
        assert any(f'"id": "{jid}"'.encode() in body for body, _ in Receiver.calls[calls_before:])

        bad = wait_for_job(web.url, submit(web.url, "Never spoken.", ref=b"not audio").json()["id"], timeout=60)
        assert bad["status"] == "failed" and bad["attempts"] == 1 and "audio" in bad["error"]  # 4xx: no retry
    finally:
        worker.stop()
        web.stop()


def test_a_redis_job_whose_reference_expired_fails_at_once(urls, tmp_path, redis_url):
    """The reference expires (here: deleted, as its TTL would) before a worker takes the job: the job fails on
    its first attempt with the reason; rq retried it as an internal error (TypeError) until attempts ran out."""
    from redis import Redis
    web = orchestrator(urls, tmp_path, REDIS_URL=redis_url).start()
    worker = rq_worker(urls, tmp_path, redis_url)
    try:
        web.wait_ready()
        jid = submit(web.url, "Never spoken.").json()["id"]
        client = Redis.from_url(redis_url)
        assert client.delete(f"voxclone:job:{jid}:ref") == 1
        client.close()
        worker.start()
        job = wait_for_job(web.url, jid, timeout=120)
        assert (job["status"], job["attempts"]) == ("failed", 1), job
        assert "reference audio has expired" in job["error"]
    finally:
        worker.stop()
        web.stop()


def test_no_redis_job_lost_when_orchestrator_restarts_and_worker_dies(urls, tmp_path, redis_url):
    web = orchestrator(urls, tmp_path, REDIS_URL=redis_url).start()
    first = rq_worker(urls, tmp_path, redis_url, "worker1")
    second = rq_worker(urls, tmp_path, redis_url, "worker2")
    try:
        web.wait_ready()
        ids = [submit(web.url, f"Redis job number {i}.").json()["id"] for i in range(3)]
        web.stop()                                    # accepted jobs wait in Redis
        web.start().wait_ready()
        assert [httpx.get(f"{web.url}/v1/jobs/{j}").json()["status"] for j in ids] == ["queued"] * 3
        first.start()
        wait_for(lambda: job_status(web.url, ids[0])["status"] != "queued", 60, interval=0.05,
                 what="the first worker to take a job")
        crash(first)                                  # worker and its work-horse die mid-job
        assert httpx.get(f"{web.url}/v1/jobs/{ids[0]}").json()["status"] == "running"
        second.start()
        jobs = [wait_for_job(web.url, j, timeout=180) for j in ids]
        assert [j["status"] for j in jobs] == ["succeeded"] * 3
        assert jobs[0]["attempts"] == 2               # the abandoned attempt, then the retry
        assert all(httpx.get(web.url + j["result_url"]).status_code == 200 for j in jobs)
    finally:
        second.stop()
        first.stop()
        web.stop()


def test_rq_worker_releases_its_job_on_sigterm(urls, tmp_path, redis_url):
    """SIGTERM to an rq worker mid-job: the job is queued again at once (out of rq's started registry, the
    attempt uncounted), not finished by the stopping worker nor left `running` until rq's abandoned-job check;
    a second worker already waiting takes it and finishes it."""
    from redis import Redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    from orchestrator_svc.jobs.redis_store import QUEUE_NAME
    web = orchestrator(urls, tmp_path, REDIS_URL=redis_url).start()
    first = rq_worker(urls, tmp_path, redis_url, "worker1")
    second = rq_worker(urls, tmp_path, redis_url, "worker2")
    started = StartedJobRegistry(queue=Queue(QUEUE_NAME, connection=Redis.from_url(redis_url)))
    text = " ".join(["This sentence keeps the synthesizer busy for a while."] * 8)
    try:
        web.wait_ready()
        first.start()
        jid = submit(web.url, text).json()["id"]
        wait_for(lambda: job_status(web.url, jid)["status"] == "running", 60, interval=0.05,
                 what="the first worker to take the job")
        first.proc.send_signal(signal.SIGTERM)
        # it stops, cleanly, without finishing the job (the teardown once raced into a 60 s pubsub wait)
        assert first.proc.wait(20) == 0
        job = job_status(web.url, jid)
        assert (job["status"], job["attempts"]) == ("queued", 0), job
        assert jid not in started.get_job_ids()
        second.start()
        done = wait_for_job(web.url, jid, timeout=180)
        assert done["status"] == "succeeded" and done["attempts"] == 1
    finally:
        second.stop()
        first.stop()
        web.stop()


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    port = free_port()
    log = open(tmp_path_factory.mktemp("s3") / "moto.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_port(url)
    yield url
    proc.terminate()
    proc.wait(10)


def test_job_results_in_s3_with_presigned_urls(urls, tmp_path, s3_endpoint):
    import boto3
    creds = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                      region_name="us-east-1")
    s3.create_bucket(Bucket="voices-out")
    web = orchestrator(urls, tmp_path, S3_BUCKET="voices-out", S3_ENDPOINT_URL=s3_endpoint, S3_PREFIX="jobs/",
                       **creds).start()
    try:
        web.wait_ready()
        job = wait_for_job(web.url, submit(web.url, "Stored in a bucket.", format="mp3").json()["id"])
        assert job["status"] == "succeeded" and job["result_url"].startswith(s3_endpoint + "/voices-out/jobs/")
        assert "Signature=" in job["result_url"] or "X-Amz-Signature=" in job["result_url"]
        direct = httpx.get(job["result_url"])
        assert direct.status_code == 200 and direct.headers["content-type"] == "audio/mpeg" and len(direct.content) > 500
        via = httpx.get(f"{web.url}/v1/jobs/{job['id']}/result")
        assert via.status_code == 307 and via.headers["location"].startswith(s3_endpoint + "/voices-out/jobs/")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="voices-out")["Contents"]]
        assert keys == [f"jobs/{job['id']}.mp3"]
    finally:
        web.stop()


def test_rate_limit_is_shared_by_replicas_through_redis(urls, tmp_path, redis_url):
    env = {"REDIS_URL": redis_url, "RATE_LIMIT": "3/minute", "API_KEYS": "shared-key",
           "STAGE_API_KEY": "stage-key"}  # the stages here have no keys; without one the orchestrator is unready
    replicas = [orchestrator(urls, tmp_path / f"r{i}", **env) for i in range(2)]
    for i, svc in enumerate(replicas):
        (tmp_path / f"r{i}").mkdir()
        svc.start()
    try:
        for svc in replicas:
            svc.wait_ready()
        codes = [httpx.get(replicas[i % 2].url + "/v1/voices", headers={"X-API-Key": "shared-key"}).status_code
                 for i in range(4)]
        assert codes == [200, 200, 200, 429]  # the fourth request, on either replica, is over the shared limit
        other = httpx.get(replicas[0].url + "/v1/voices", headers={"X-API-Key": "wrong"})
        assert other.status_code == 401
    finally:
        for svc in replicas:
            svc.stop()
