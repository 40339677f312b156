"""One set of tests for every JobStore and ResultStore: the SQLite queue and Redis record, disk and Redis
results, each method with the same meaning (Redis from a real redis-server)."""
import time

import pytest

from orchestrator_svc.jobs.redis_store import RedisJobStore
from orchestrator_svc.jobs.results import DiskResults, RedisResults
from orchestrator_svc.jobs.sqlite_store import SQLiteJobStore

PARAMS = {"text": "Hi.", "format": "wav", "vocoder": None, "seed": None, "webhook_url": None, "filename": "r.wav"}


@pytest.fixture
def redis(redis_url):
    from redis import Redis
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "sqlite":
        jobs = SQLiteJobStore(tmp_path, lease_s=60, max_attempts=2)
    else:
        jobs = RedisJobStore(request.getfixturevalue("redis"), ttl_s=600, max_attempts=2)
    yield jobs
    if request.param == "sqlite":
        jobs.close()


@pytest.fixture(params=["disk", "redis"])
def results(request, tmp_path):
    if request.param == "disk":
        return DiskResults(tmp_path / "results")
    return RedisResults(request.getfixturevalue("redis"), ttl_s=600)


def test_created_job_is_queued_with_its_reference(store):
    jid = store.create(b"RIFF-reference", PARAMS)
    job = store.get(jid)
    assert job["id"] == jid and job["status"] == "queued" and job["attempts"] == 0
    assert job["params"] == PARAMS and job["error"] is None and job["result"] is None
    assert store.reference(jid) == b"RIFF-reference"
    assert store.get("job_missing") is None
    assert store.depth() >= 1


def test_retry_requeues_until_attempts_run_out(store):
    jid = store.create(b"ref", PARAMS)
    store.start_attempt(jid)
    assert store.get(jid)["status"] == "running" and store.get(jid)["attempts"] == 1
    store.fail(jid, "stage down", retry=True)
    assert store.get(jid)["status"] == "queued" and store.get(jid)["error"] == "stage down"
    store.start_attempt(jid)
    store.fail(jid, "stage down again", retry=True)      # max_attempts=2: no attempt left
    assert store.get(jid)["status"] == "failed" and store.get(jid)["attempts"] == 2


def test_fail_without_retry_is_final(store):
    jid = store.create(b"ref", PARAMS)
    store.start_attempt(jid)
    store.fail(jid, "bad text", retry=False)
    assert store.get(jid)["status"] == "failed" and store.get(jid)["error"] == "bad text"


def test_success_records_the_result_and_clears_the_error(store):
    jid = store.create(b"ref", PARAMS)
    store.start_attempt(jid)
    store.fail(jid, "first try failed", retry=True)
    store.start_attempt(jid)
    store.succeed(jid, f"{jid}.wav")
    store.set_webhook_status(jid, "delivered")
    job = store.get(jid)
    assert (job["status"], job["result"], job["error"], job["webhook_status"]) == (
        "succeeded", f"{jid}.wav", None, "delivered")
    assert job["updated_at"] >= job["created_at"]


def test_result_store_round_trip(results):
    assert results.get("job_none.wav") is None
    results.put("job_a.wav", b"audio bytes")
    assert results.get("job_a.wav") == b"audio bytes" and results.url("job_a.wav") is None


def test_release_puts_a_running_job_back_uncounted(store):
    jid = store.create(b"ref", PARAMS)
    store.release(jid)                                   # not running: nothing to give back
    assert store.get(jid)["status"] == "queued" and store.get(jid)["attempts"] == 0
    store.start_attempt(jid)
    store.release(jid)                                   # its worker is shutting down
    job = store.get(jid)
    assert job["status"] == "queued" and job["attempts"] == 0 and store.reference(jid) == b"ref"
    store.start_attempt(jid)
    store.succeed(jid, f"{jid}.wav")
    store.release(jid)                                   # finished: stays finished
    assert store.get(jid)["status"] == "succeeded"


def test_pending_webhooks_are_kept_claimed_once_and_given_back(store):
    params = {**PARAMS, "webhook_url": "https://example.com/hook"}
    jid = store.create(b"ref", params)
    store.start_attempt(jid)
    store.succeed(jid, f"{jid}.wav")
    def mine(items):  # this job's deliveries only: the Redis store is shared by the session
        return [i for i in items if i["id"] == jid]
    assert mine(store.claim_webhooks(60, 100)) == []          # nothing handed over yet
    store.hand_over_webhook(store.get(jid))
    assert store.get(jid)["webhook_status"] == "pending"
    (item,) = mine(store.claim_webhooks(60, 100))
    assert item == {"id": jid, "url": "https://example.com/hook",
                    "payload": {"id": jid, "status": "succeeded", "error": None, "result_path": f"/v1/jobs/{jid}/result"}}
    assert mine(store.claim_webhooks(60, 100)) == []          # held by its claimer for the lease
    store.release_webhook(jid)                                # its sender stopped before delivering
    assert mine(store.claim_webhooks(1.0, 100)) == [item]     # claimable again at once
    assert mine(store.claim_webhooks(60, 100)) == []
    time.sleep(1.2)
    assert mine(store.claim_webhooks(60, 100)) == [item]      # the claimer's lease ran out (it died)
    store.set_webhook_status(jid, "delivered")
    store.release_webhook(jid)                                # too late to give back: delivered stays
    assert store.get(jid)["webhook_status"] == "delivered" and mine(store.claim_webhooks(0, 100)) == []
