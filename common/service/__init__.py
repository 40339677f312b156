"""What every service is built from: the app factory, its middleware, auth, the ops routes and the threads
that keep blocking work off the event loop. Each part lives in its own module here:

- `app_factory`: `create_app` (lifespan, error handlers, limiter, middleware order, ops routes)
- `middleware`: request envelope (request id, metrics, log line, auth, size check) and the body-size limit
- `auth`: API-key check and the rate-limit key
- `health`: `/healthz`, `/readyz`, `/metrics`
- `threads`: `run_model` (the one torch thread) and `run_blocking` (other blocking work)
"""
from common.service.app_factory import create_app
from common.service.auth import make_auth_dependency, presented_key, rate_limit_key
from common.service.middleware import BodyLimitMiddleware
from common.service.threads import MODEL_THREAD, run_blocking, run_model

__all__ = ["create_app", "run_model", "run_blocking", "MODEL_THREAD", "make_auth_dependency", "presented_key",
           "rate_limit_key", "BodyLimitMiddleware"]
