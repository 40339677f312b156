"""Webhook signatures carry their time (replays are refused), and the job worker's readiness is reported."""
import asyncio
import time

import httpx
import pytest

from orchestrator_svc.jobs.webhooks import sign, verify_signature


def test_signature_binds_body_and_time():
    body, now = b'{"id": "job_1"}', int(time.time())
    header = sign("s3cret", body, now)
    assert header.startswith(f"t={now},v1=") and verify_signature("s3cret", header, body)
    assert not verify_signature("s3cret", header, body + b" ")           # tampered body
    assert not verify_signature("other", header, body)                   # wrong key
    assert not verify_signature("s3cret", header, body, now=now + 301)   # replayed 5 minutes later
    assert not verify_signature("s3cret", header.replace(f"t={now}", f"t={now + 1}"), body)  # moved stamp


@pytest.mark.parametrize("kind", ["job_workers", "webhooks"])
def test_readyz_turns_unready_when_a_background_task_dies(urls, tmp_path, kind):
    """In process (ASGI) against the real stages: a job worker or webhook task that has ended makes /readyz 503."""
    from orchestrator_svc.app import OrchestratorSettings, create

    settings = OrchestratorSettings(encoder_urls=urls["encoder"], synthesizer_urls=urls["synthesizer"],
                                    vocoder_urls=urls["vocoder"], data_dir=str(tmp_path), webhook_secret="x")
    app = create(settings)

    async def scenario():
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://o")
            assert (await client.get("/readyz")).status_code == 200
            task = app.state.orchestrator.background.tasks[kind][0]
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            r = await client.get("/readyz")
            await client.aclose()
            return r

    r = asyncio.run(scenario())
    assert r.status_code == 503 and r.json()["checks"]["background"]["dead"] == {kind: 1}
