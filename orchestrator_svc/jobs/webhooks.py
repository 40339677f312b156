"""A job's outcome POSTed to its `webhook_url`, signed: X-Voxclone-Signature: sha256=HMAC(WEBHOOK_SECRET, body)."""
import asyncio
import hashlib
import hmac
import json

import httpx


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_payload(job: dict) -> dict:
    done = job["status"] == "succeeded"
    return {"id": job["id"], "status": job["status"], "error": job["error"],
            "result_path": f"/v1/jobs/{job['id']}/result" if done else None}


async def send_webhook(client: httpx.AsyncClient, url: str, payload: dict, secret: str, attempts: int = 5,
                       base_delay: float = 0.5) -> bool:
    """POST the job's outcome, signed with HMAC-SHA256 (X-Voxclone-Signature); exponential backoff."""
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {"content-type": "application/json", "X-Voxclone-Signature": sign(secret, body),
               "X-Voxclone-Event": "job." + payload["status"]}
    for attempt in range(attempts):
        try:
            resp = await client.post(url, content=body, headers=headers, timeout=10)
            if resp.status_code < 300:
                return True
        except httpx.HTTPError:
            pass
        await asyncio.sleep(base_delay * 2 ** attempt)
    return False
