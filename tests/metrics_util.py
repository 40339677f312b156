"""Read a Prometheus sample from a service's /metrics."""
import re

import httpx


def sample(url: str, name: str, **labels) -> float:
    """Sum of `name` samples whose labels include `labels` (0 when none)."""
    total = 0.0
    for line in httpx.get(url + "/metrics").text.splitlines():
        m = re.match(rf"{re.escape(name)}(?:{{(.*)}})? (\S+)$", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            total += float(m.group(2))
    return total
