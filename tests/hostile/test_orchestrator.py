"""Hostile input against the orchestrator over real HTTP (real stage processes behind it): outbound URLs,
webhooks, job workers under faults, shutdown, tenancy, bounds, retention. Each case states its status and
message."""
import json
import signal
import sqlite3
import time

import httpx
import pytest

from common.stack import ServiceProcess, free_port
from tests import processes
from tests.conftest import DATA
from tests.hostile.receivers import answer, serve, silent_until_released
from tests.test_redis_jobs import s3_endpoint  # noqa: F401 - fixture
from tests.waiting import wait_for

SECRET = "hostile-secret"
REF = (DATA / "ref_awb.wav").read_bytes()


def orchestrator(urls, data_dir, **env) -> ServiceProcess:
    """tests.processes' orchestrator with a webhook secret (webhooks are refused without one)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return processes.orchestrator(urls, data_dir, **{"WEBHOOK_SECRET": SECRET, **env})


def submit(base, text="Hello there.", headers=None, ref=REF, **form):
    files = {"reference_audio": ("r.wav", ref)} if ref is not None else None
    return httpx.post(base + "/v1/jobs", files=files, data={"text": text, "vocoder": "griffinlim", **form},
                      headers=headers, timeout=60)


def job(base, jid, headers=None) -> dict:
    return httpx.get(f"{base}/v1/jobs/{jid}", headers=headers, timeout=10).json()


def finished(base, jid, timeout=180, headers=None) -> dict:
    return wait_for(lambda: (j := job(base, jid, headers))["status"] in ("succeeded", "failed") and j,
                    timeout, what=f"job {jid} to finish")


@pytest.fixture(scope="module")
def strict(urls, tmp_path_factory):
    """Default outbound policy (nothing private allowed); a short webhook deadline (a refused delivery is
    retried with backoff until then: 7.5 s of sleeps at the default 60 s)."""
    svc = orchestrator(urls, tmp_path_factory.mktemp("strict"), WEBHOOK_DEADLINE_S="2").start()
    svc.wait_ready()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def allowing(urls, tmp_path_factory):
    """Loopback allowed (the test receivers live there); a short webhook deadline."""
    svc = orchestrator(urls, tmp_path_factory.mktemp("allowing"), OUTBOUND_ALLOW="127.0.0.1/32",
                       WEBHOOK_DEADLINE_S="4", MAX_UPLOAD_BYTES="2000000").start()
    svc.wait_ready()
    yield svc
    svc.stop()


MALFORMED = [("http://[::1/", "not a valid URL"), ("http://127.0.0.1:99999/hook", "not a valid URL"),
             ("ftp://example.com/", "http(s)"), ("http://x@127.0.0.1/", "credentials"), ("http:///x", "no host"),
             ("http://exa mple.com/", "spaces"), ("http://example.com:0/", "invalid port")]
REFUSED = ["http://127.0.0.1:9/", "http://127.1/", "http://2130706433/", "http://0x7f.1/", "http://0.0.0.0/",
           "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://10.0.0.1/", "http://192.168.1.1/",
           "http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://224.0.0.1/",
           "http://[fe80::1]/", "http://[fd00::1]/", "http://240.0.0.1/"]


@pytest.mark.parametrize("url,needle", MALFORMED)
def test_malformed_webhook_url_is_422_at_submission(strict, url, needle):
    r = submit(strict.url, webhook_url=url)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_url" and needle in err["message"] and err["message"].startswith("webhook_url")


@pytest.mark.parametrize("url", REFUSED)
def test_private_address_literals_are_refused_in_every_spelling(strict, url):
    r = submit(strict.url, webhook_url=url)
    assert r.status_code == 422 and r.json()["error"]["code"] == "url_not_allowed", r.text
    assert "not a public address" in r.json()["error"]["message"]
    r = httpx.post(strict.url + "/v1/clone", data={"text": "Hi.", "reference_url": url}, timeout=30)
    assert r.status_code == 422 and r.json()["error"]["code"] == "url_not_allowed", r.text


def test_name_resolving_to_loopback_is_never_contacted_and_gives_no_port_oracle(strict):
    """`localhost` passes the literal check and is refused once resolved; an open port and a closed one end
    the same way, and nothing reaches the receiver."""
    base, seen, server = serve(answer(204))
    port = base.rsplit(":", 1)[1]
    closed = free_port()
    try:
        ids = [submit(strict.url, webhook_url=f"http://localhost:{p}/hook").json()["id"] for p in (port, closed)]
        jobs = [finished(strict.url, j) for j in ids]
        wait_for(lambda: all(job(strict.url, j)["webhook"] == "failed" for j in ids), 60, what="webhooks to fail")
        outcomes = [{k: v for k, v in job(strict.url, j).items() if k in ("status", "error", "webhook")}
                    for j in ids]
        assert [j["status"] for j in jobs] == ["succeeded"] * 2
        assert outcomes[0] == outcomes[1] == {"status": "succeeded", "error": None, "webhook": "failed"}
        assert seen.calls == []  # before the policy, the service POSTed to loopback
        r = httpx.post(strict.url + "/v1/clone", data={"text": "Hi.", "reference_url": f"http://localhost:{port}/"},
                       timeout=30)
        r2 = httpx.post(strict.url + "/v1/clone", timeout=30,
                        data={"text": "Hi.", "reference_url": f"http://localhost:{closed}/"})
        assert r.status_code == r2.status_code == 422 and r.json()["error"]["message"] == r2.json()["error"]["message"]
        assert seen.calls == []
    finally:
        server.shutdown()


def test_webhooks_disabled_without_secret_say_why(urls, tmp_path):
    svc = orchestrator(urls, tmp_path, WEBHOOK_SECRET="").start()
    try:
        svc.wait_ready()
        r = submit(svc.url, webhook_url="https://example.com/hook")
        assert r.status_code == 422 and r.json()["error"]["code"] == "webhooks_disabled"
        assert "WEBHOOK_SECRET" in r.json()["error"]["message"]
        assert httpx.get(svc.url + "/v1/info").json()["webhooks_enabled"] is False
        assert submit(svc.url).status_code == 202  # without a webhook, jobs still work
    finally:
        svc.stop()


def test_a_silent_webhook_receiver_never_holds_the_job_worker(allowing):
    base, seen, server = serve(silent_until_released)
    try:
        slow = submit(allowing.url, "First job.", webhook_url=base + "/hook").json()["id"]
        wait_for(lambda: seen.calls, 120, what="the webhook to reach the silent receiver")
        second = submit(allowing.url, "Second job.").json()["id"]
        assert finished(allowing.url, second, timeout=120)["status"] == "succeeded"
        assert job(allowing.url, slow)["webhook"] == "pending"  # still being delivered, on its own task
        # WEBHOOK_DEADLINE_S=4 bounds all attempts of the silent one.
        wait_for(lambda: job(allowing.url, slow)["webhook"] == "failed", 30, what="the webhook deadline")
    finally:
        seen.release.set()
        server.shutdown()


def test_a_pending_webhook_is_delivered_after_the_orchestrator_restarts(urls, tmp_path):
    """The job ends while its receiver does not answer; the orchestrator is restarted meanwhile. The delivery
    was kept in the job store (not only in the stopped process's memory), so the restarted one sends it."""
    base, seen, server = serve(silent_until_released)
    env = {"OUTBOUND_ALLOW": "127.0.0.1/32", "WEBHOOK_DEADLINE_S": "120"}
    svc = orchestrator(urls, tmp_path, **env).start()
    try:
        svc.wait_ready()
        jid = submit(svc.url, webhook_url=base + "/hook").json()["id"]
        wait_for(lambda: seen.calls, 120, what="the webhook to reach the silent receiver")
        assert job(svc.url, jid)["status"] == "succeeded" and job(svc.url, jid)["webhook"] == "pending"
        svc.stop()                      # mid-delivery
        seen.release.set()              # the receiver answers from now on
        before = len(seen.calls)
        svc = orchestrator(urls, tmp_path, **env).start()
        svc.wait_ready()
        wait_for(lambda: job(svc.url, jid)["webhook"] == "delivered", 60, what="the webhook after the restart")
        resent = [json.loads(body) for _, _, _, body in seen.calls[before:]]
        assert [r["id"] for r in resent] == [jid] and resent[0]["status"] == "succeeded"
    finally:
        svc.stop()
        server.shutdown()


def test_webhook_is_signed_with_a_timestamp_and_redirects_are_not_followed(allowing):
    import hashlib
    import hmac
    target, reached, t_server = serve(answer(204))
    base, seen, server = serve(answer(302, headers={"Location": target + "/elsewhere"}))
    good, got, g_server = serve(answer(204))
    try:
        jid = submit(allowing.url, webhook_url=base + "/hook").json()["id"]
        wait_for(lambda: job(allowing.url, jid)["webhook"] == "failed", 120, what="the redirected webhook to fail")
        assert seen.calls and reached.calls == []  # the 302 was not followed
        jid = submit(allowing.url, webhook_url=good + "/hook").json()["id"]
        wait_for(lambda: job(allowing.url, jid)["webhook"] == "delivered", 120, what="the webhook")
        _, _, headers, body = got.calls[-1]
        parts = dict(p.split("=", 1) for p in headers["X-Voxclone-Signature"].split(","))
        assert abs(time.time() - int(parts["t"])) < 120
        mac = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        assert parts["v1"] == mac and json.loads(body)["id"] == jid
    finally:
        for s in (server, t_server, g_server):
            s.shutdown()


def test_worker_survives_a_broken_job_record_and_logs_it(allowing):
    """A job row whose params are not JSON (a corrupted record) used to raise inside the claim and end the
    worker: later jobs stayed queued while /readyz said ready."""
    db = sqlite3.connect(str(allowing.env["DATA_DIR"]) + "/jobs.sqlite3", timeout=30)
    now = time.time()
    db.execute("INSERT INTO jobs (id, status, params, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?)",
               ("job_broken0000000000", "{not json", now - 1000, now - 1000))
    db.commit()
    db.close()
    good = submit(allowing.url, "After the broken one.").json()["id"]
    assert finished(allowing.url, good)["status"] == "succeeded"
    broken = finished(allowing.url, "job_broken0000000000")
    assert broken["status"] == "failed" and "internal error" in broken["error"]
    assert httpx.get(allowing.url + "/readyz").status_code == 200
    assert "job failed" in allowing.log_path.read_text()


def test_reference_by_url_for_clone_voices_and_jobs(allowing):
    big = b"RIFF" + b"\0" * 2_100_000
    base, _, server = serve(lambda h, r: answer(200, big if "big" in h.path else REF,
                                                   {"content-type": "audio/wav"})(h, r))
    moved, _, m_server = serve(answer(301, headers={"Location": base + "/ref.wav"}))
    try:
        r = httpx.post(allowing.url + "/v1/clone", data={"text": "By URL.", "reference_url": base + "/ref.wav",
                                                         "vocoder": "griffinlim"}, timeout=120)
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and len(r.content) > 1000
        v = httpx.post(allowing.url + "/v1/voices", files={"name": (None, "by-url"),
                                                           "reference_url": (None, base + "/ref.wav")}, timeout=60)
        assert v.status_code == 201 and v.json()["source"] == "audio", v.text
        jid = submit(allowing.url, ref=None, reference_url=base + "/ref.wav").json()["id"]
        assert finished(allowing.url, jid)["status"] == "succeeded"
        r = httpx.post(allowing.url + "/v1/clone", data={"text": "Hi.", "reference_url": base + "/big.wav"})
        assert r.status_code == 413 and "larger than 2000000 bytes" in r.json()["error"]["message"]
        r = httpx.post(allowing.url + "/v1/clone", data={"text": "Hi.", "reference_url": moved + "/ref.wav"})
        assert r.status_code == 422 and "redirects" in r.json()["error"]["message"]
        r = httpx.post(allowing.url + "/v1/clone", files={"reference_audio": ("r.wav", REF)},
                       data={"text": "Hi.", "reference_url": base + "/ref.wav"})
        assert r.status_code == 422 and "not both" in r.json()["error"]["message"]
        r = httpx.post(allowing.url + "/v1/clone", data={"text": "Hi."})
        assert r.status_code == 422 and "reference_url" in r.json()["error"]["message"]
    finally:
        server.shutdown()
        m_server.shutdown()


@pytest.mark.parametrize("query,needle", [("limit=-1", "limit"), ("limit=1001", "limit"),
                                          ("offset=10000000000000000000", "offset"), ("offset=-5", "offset"),
                                          ("limit=-44325833597054265898041344", "limit")])
def test_voice_listing_bounds(strict, query, needle):
    r = httpx.get(f"{strict.url}/v1/voices?{query}")
    assert r.status_code == 422 and needle in r.json()["error"]["message"], r.text


def test_voice_listing_bounds_are_in_the_schema(strict):
    params = {p["name"]: p["schema"] for p in
              httpx.get(strict.url + "/openapi.json").json()["paths"]["/v1/voices"]["get"]["parameters"]}
    assert params["limit"]["minimum"] == 1 and params["limit"]["maximum"] == 1000
    assert params["offset"]["minimum"] == 0 and "maximum" in params["offset"]


def test_info_shows_versions_and_counts_but_no_urls_or_secrets(strict, urls):
    r = httpx.get(strict.url + "/v1/info")
    assert r.status_code == 200
    info = r.json()
    assert info["service"] == "orchestrator" and info["stages"] == {"encoder": 1, "synthesizer": 1, "vocoder": 1}
    assert info["version"] and info["python"] and info["webhooks_enabled"] is True
    for secret in (SECRET, urls["encoder"], urls["vocoder"], strict.env["DATA_DIR"]):
        assert secret not in r.text


def test_tenants_see_only_their_own_voices_and_jobs(urls, tmp_path):
    """Also: API_KEYS without STAGE_API_KEY leaves the orchestrator unready, with the reason."""
    svc = orchestrator(urls, tmp_path, API_KEYS="alice-key,bob-key", ADMIN_API_KEYS="root-key").start()
    alice, bob, root = ({"X-API-Key": k} for k in ("alice-key", "bob-key", "root-key"))
    try:
        wait_for(lambda: httpx.get(svc.url + "/healthz").status_code == 200, 60, what="the orchestrator")
        ready = wait_for(lambda: (r := httpx.get(svc.url + "/readyz")).json().get("checks", {}).get("stage_api_key")
                         and r, 60, what="readiness checks")
        assert ready.status_code == 503 and "STAGE_API_KEY" in ready.json()["checks"]["stage_api_key"]["error"]
        vid = httpx.post(svc.url + "/v1/voices", json={"name": "mine", "embedding": [0.0625] * 256},
                         headers=alice).json()["id"]
        assert httpx.get(f"{svc.url}/v1/voices/{vid}", headers=alice).status_code == 200
        for method in ("GET", "DELETE"):
            r = httpx.request(method, f"{svc.url}/v1/voices/{vid}", headers=bob)
            assert r.status_code == 404 and r.json()["error"]["code"] == "voice_not_found"
        r = httpx.post(svc.url + "/v1/tts", json={"voice_id": vid, "text": "Hi."}, headers=bob)
        assert r.status_code == 404
        assert vid not in httpx.get(svc.url + "/v1/voices", headers=bob).text
        assert vid in httpx.get(svc.url + "/v1/voices", headers=alice).text
        assert vid in httpx.get(svc.url + "/v1/voices", headers=root).text
        jid = submit(svc.url, headers=alice).json()["id"]
        assert finished(svc.url, jid, headers=alice)["status"] == "succeeded"
        for path in (f"/v1/jobs/{jid}", f"/v1/jobs/{jid}/result"):
            r = httpx.get(svc.url + path, headers=bob)
            assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found"
            assert httpx.get(svc.url + path, headers=root).status_code == 200
        assert httpx.get(f"{svc.url}/v1/jobs/{jid}/result", headers=alice).status_code == 200
        assert httpx.delete(f"{svc.url}/v1/voices/{vid}", headers=root).status_code == 204
    finally:
        svc.stop()


def test_finished_jobs_uploads_and_results_are_deleted_after_ttl(urls, tmp_path):
    svc = orchestrator(urls, tmp_path, JOB_TTL_S="3").start()
    jobs_dir = tmp_path / "jobs"
    try:
        svc.wait_ready()
        jid = submit(svc.url, format="flac").json()["id"]
        assert finished(svc.url, jid)["status"] == "succeeded"
        assert not (jobs_dir / f"{jid}.ref").exists()  # the upload goes as soon as the job is over
        wait_for(lambda: httpx.get(f"{svc.url}/v1/jobs/{jid}").status_code == 404, 30, what="the job to expire")
        assert not (jobs_dir / f"{jid}.flac").exists()
    finally:
        svc.stop()


def test_sigterm_releases_the_running_job_for_the_next_worker(urls, tmp_path):
    """The orchestrator's in-process worker gives a running job back on SIGTERM (queued, lease cleared) instead
    of leaving it `running` for the whole JOB_LEASE_S; a separate worker takes it at once."""
    web = orchestrator(urls, tmp_path, JOB_LEASE_S="600").start()
    worker = orchestrator(urls, tmp_path)
    worker.module, worker.log_path = "orchestrator_svc.worker", tmp_path / "worker.log"
    text = " ".join(["This sentence keeps the synthesizer busy for a while."] * 6)
    try:
        web.wait_ready()
        jid = submit(web.url, text).json()["id"]
        wait_for(lambda: job(web.url, jid)["status"] == "running", 60, what="the job to start")
        web.stop(signal.SIGTERM)
        row = sqlite3.connect(str(tmp_path / "jobs.sqlite3")).execute(
            "SELECT status, lease_until, attempts FROM jobs WHERE id = ?", (jid,)).fetchone()
        assert row == ("queued", None, 0)
        worker.start()
        web = orchestrator(urls, tmp_path, JOB_WORKERS="0").start()
        web.wait_ready()
        done = finished(web.url, jid)
        assert done["status"] == "succeeded" and done["attempts"] == 1
    finally:
        worker.stop()
        web.stop()


def distinct_reference(gain: float) -> bytes:
    """Bytes the embedding cache has not seen, so every request reaches the encoder."""
    import io

    import soundfile as sf
    wav, sr = sf.read(DATA / "ref_awb.wav", dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, wav * gain, sr, format="WAV")
    return buf.getvalue()


def test_stage_429_is_a_retryable_503_not_a_stage_failure(urls, tmp_path):
    """An encoder with its own RATE_LIMIT spends the orchestrator's (stage key's) budget: users get a 503 with
    Retry-After from the orchestrator, not 502 "stage failed (429)"."""
    enc = processes.service("encoder", tmp_path / "encoder.log", RATE_LIMIT="4/minute").start()
    svc = orchestrator(urls, tmp_path / "o", ENCODER_URLS=enc.url, STAGE_API_KEY="stage-key")
    try:
        polls = iter(range(10**6))  # a fresh limiter bucket per readiness poll (the encoder takes any key)
        wait_for(lambda: httpx.get(enc.url + "/readyz", headers={"X-API-Key": f"probe-{next(polls)}"}
                                   ).status_code == 200, 120, what="the encoder")
        svc.start().wait_ready()
        responses = []
        for i in range(8):
            responses.append(httpx.post(svc.url + "/v1/clone", data={"text": "Hi.", "vocoder": "griffinlim"},
                                        files={"reference_audio": ("r.wav", distinct_reference(0.3 + i / 20))},
                                        timeout=120))
            if responses[-1].status_code != 200:
                break
        limited = responses[-1]
        assert limited.status_code == 503 and limited.json()["error"]["code"] == "stage_busy", limited.text
        # the message, not the whole body: the body's random request id can hold the digits 429
        assert limited.headers["retry-after"].isdigit() and "429" not in limited.json()["error"]["message"]
    finally:
        svc.stop()
        enc.stop()


def test_redis_jobs_results_in_s3_are_deleted_after_ttl(urls, tmp_path, redis_url, s3_endpoint):  # noqa: F811
    import boto3

    from tests.test_redis_jobs import rq_worker
    creds = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                      region_name="us-east-1")
    s3.create_bucket(Bucket="expiring")
    env = {"REDIS_URL": redis_url, "S3_BUCKET": "expiring", "S3_ENDPOINT_URL": s3_endpoint, "JOB_TTL_S": "4",
           **creds}
    web = orchestrator(urls, tmp_path, **env).start()
    worker = rq_worker(urls, tmp_path, redis_url)
    worker.env.update(env)
    try:
        web.wait_ready()
        worker.start()
        jid = submit(web.url).json()["id"]
        assert finished(web.url, jid)["status"] == "succeeded"
        assert s3.list_objects_v2(Bucket="expiring").get("KeyCount") == 1
        wait_for(lambda: s3.list_objects_v2(Bucket="expiring").get("KeyCount") == 0, 30, what="the S3 result to go")
        wait_for(lambda: httpx.get(f"{web.url}/v1/jobs/{jid}").status_code == 404, 30, what="the record to expire")
    finally:
        worker.stop()
        web.stop()


# What schemathesis (--checks all, test_orchestrator_schema.py) found, each as the request it sent.

def test_studio_speak_refuses_an_empty_upload_and_a_voice_beside_a_reference(strict):
    """An empty reference file was taken: the 200 event stream then ended in an `error` event from the
    encoder. A voice beside a reference was ignored unread (a name that is no voice went through)."""
    r = httpx.post(strict.url + "/v1/studio/speak", data={"text": "Hi."}, files={"reference_audio": ("r.wav", b"")})
    assert r.status_code == 422 and "the uploaded file is empty" in r.json()["error"]["message"], r.text
    r = httpx.post(strict.url + "/v1/studio/speak", data={"text": "Hi.", "voice": "nobody"},
                   files={"reference_audio": ("r.wav", REF)})
    assert r.status_code == 422 and "not both" in r.json()["error"]["message"], r.text


def test_fields_beside_the_one_used_are_checked_too(strict):
    """/v1/tts with a voice_id and an embedding, /inference with an embed and a wav: the unused one was never
    decoded, so a broken one (bad base64, 10 values for 256) was accepted with a 200."""
    voice = httpx.post(strict.url + "/v1/voices", json={"name": "beside", "embedding": [0.0625] * 256}).json()
    r = httpx.post(strict.url + "/v1/tts", json={"text": "Hi.", "voice_id": voice["id"], "embedding": [0.1] * 10})
    assert r.status_code == 422 and "expected 256 values" in r.json()["error"]["message"], r.text
    r = httpx.post(strict.url + "/inference", json={"text": "Hi.", "embed": [0.0625] * 256,
                                                    "wav": {"shape": [4], "data": "\u0084"}})
    assert r.status_code == 422 and "wav: data is not valid base64" in r.json()["error"]["message"], r.text
    r = httpx.post(strict.url + "/v1/tts", json={"text": "Hi.", "voice_id": "", "embedding": [0.0625] * 256})
    assert r.status_code == 404, r.text  # "" names no voice; it was taken for no voice_id at all


def test_json_bodies_take_json_types_only(strict):
    """"1" for an integer, true for a number, 5 for a name: pydantic's lax mode took them, the schema not."""
    body = {"text": "Hi.", "embedding": [0.0625] * 256}
    for change in ({"seed": "1"}, {"speed": True}, {"seed": 2 ** 32}, {"format": 5}):
        r = httpx.post(strict.url + "/v1/tts", json={**body, **change})
        assert r.status_code == 422 and next(iter(change)) in r.json()["error"]["message"], (change, r.text)
    r = httpx.post(strict.url + "/v1/voices", json={"name": 5, "embedding": [0.0625] * 256})
    assert r.status_code == 422 and "name" in r.json()["error"]["message"], r.text
    r = httpx.post(strict.url + "/v1/audio/speech", json={"input": "Hi.", "voice": "alloy", "stream": "true"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "stream", r.text


def test_a_saved_voice_id_that_names_none_is_404_and_other_names_400(strict):
    r = httpx.post(strict.url + "/v1/audio/speech", json={"input": "Hi.", "voice": "voice_0123456789abcdef"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "voice_not_found", r.text  # was 400
    r = httpx.post(strict.url + "/v1/audio/speech", json={"input": "Hi.", "voice": "nobody"})
    assert r.status_code == 400 and "nobody" in r.json()["error"]["message"], r.text


def test_form_limits_are_refused_at_submission(strict):
    """A seed past the stages' 2^32 - 1 was queued (202) and failed later; a voice name past 200 characters
    was cut short unasked."""
    r = submit(strict.url, seed=str(2 ** 32))
    assert r.status_code == 422 and "seed" in r.json()["error"]["message"], r.text
    r = httpx.post(strict.url + "/v1/voices", data={"name": "n" * 201}, files={"file": ("r.wav", REF)})
    assert r.status_code == 422 and "200 limit" in r.json()["error"]["message"], r.text


def test_schema_describes_forms_and_every_status(strict):
    schema = httpx.get(strict.url + "/openapi.json").json()
    bodies = schema["components"]["schemas"]
    clone = bodies["Body_clone_v1_clone_post"]["properties"]
    assert clone["reference_audio"]["format"] == "binary"  # was contentMediaType: schemathesis sent text
    assert all({"type": "null"} not in part.get("anyOf", ()) for part in clone.values())  # forms have no null
    assert clone["seed"]["anyOf"][0]["maximum"] == 2 ** 32 - 1
    enroll = schema["paths"]["/v1/voices"]["post"]["requestBody"]
    assert enroll["required"] is True and "oneOf" in enroll["content"]["multipart/form-data"]["schema"]
    for path in ("/v1/clone", "/v1/tts", "/v1/audio/speech", "/inference"):
        assert "409" in schema["paths"][path]["post"]["responses"], path  # backend_unavailable


def test_a_job_whose_reference_expired_fails_at_once(urls, tmp_path):
    """The stored upload is gone when a worker takes the job (the Redis twin: tests/test_redis_jobs.py): it
    failed as an internal error (TypeError) and was retried until attempts ran out."""
    web = orchestrator(urls, tmp_path, JOB_WORKERS="0").start()
    worker = orchestrator(urls, tmp_path)
    worker.module, worker.log_path = "orchestrator_svc.worker", tmp_path / "worker.log"
    try:
        web.wait_ready()
        jid = submit(web.url).json()["id"]
        (tmp_path / "jobs" / f"{jid}.ref").unlink()
        worker.start()
        done = finished(web.url, jid)
        assert (done["status"], done["attempts"]) == ("failed", 1), done
        assert "reference audio has expired" in done["error"]
    finally:
        worker.stop()
        web.stop()
