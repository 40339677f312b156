"""Loopback HTTP servers that play the user's side of outbound requests: webhook receivers (prompt, silent,
failing), a reference-audio host, a redirector. Each records what reached it."""
import http.server
import threading
from dataclasses import dataclass, field


@dataclass
class Recorded:
    calls: list = field(default_factory=list)   # (method, path, headers, body)
    release: threading.Event = field(default_factory=threading.Event)


def serve(handler_body, recorded: Recorded | None = None):
    """Start a threaded server on 127.0.0.1; `handler_body(handler, recorded)` answers each request.
    Returns (base_url, recorded, server)."""
    recorded = recorded or Recorded()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded.calls.append((self.command, self.path, dict(self.headers), body))
            handler_body(self, recorded)

        do_GET = do_POST = _any

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", recorded, server


def answer(status: int, body: bytes = b"", headers: dict | None = None):
    def reply(handler, _recorded):
        handler.send_response(status)
        for k, v in (headers or {}).items():
            handler.send_header(k, v)
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return reply


def silent_until_released(handler, recorded: Recorded):
    """A receiver that never answers (until the test sets `release`): the slow-webhook case."""
    recorded.release.wait(120)
    answer(204)(handler, recorded)
