"""Server-sent events as the tests read them: the JSON of each `data:` line, and the web page's Speak route."""
import json

import httpx


def data_events(lines) -> list[dict]:
    return [json.loads(line[len("data: "):]) for line in lines if line.startswith("data: ")]


def studio_events(url: str, **fields) -> list[dict]:
    """POST /v1/studio/speak with these form fields: its events, the last one `done` (or one `error`)."""
    r = httpx.post(url + "/v1/studio/speak", data=fields, timeout=120)
    assert r.status_code == 200, r.text[:300]
    return data_events(r.text.splitlines())
