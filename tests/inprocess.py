"""The services' FastAPI apps run inside the test process: one event loop on a background thread, each app's
lifespan entered (real models loaded), requests sent through httpx.ASGITransport (no sockets, no processes).
The orchestrator's stage clients are wired to the stage apps the same way. For route logic and error cases;
tests/processes.py starts real processes for the HTTP contract between them."""
import asyncio
import contextlib
import threading

import httpx

from encoder_svc.app import create as create_encoder
from encoder_svc.settings import EncoderSettings
from orchestrator_svc.app import create as create_orchestrator
from orchestrator_svc.settings import OrchestratorSettings
from synthesizer_svc.app import create as create_synthesizer
from synthesizer_svc.settings import SynthesizerSettings
from vocoder_svc.app import create as create_vocoder
from vocoder_svc.settings import VocoderSettings

STAGE_URLS = {"encoder": "http://encoder.inprocess", "synthesizer": "http://synthesizer.inprocess",
              "vocoder": "http://vocoder.inprocess"}


class AppLoop:
    """Apps served on one event loop in a thread; `call` runs a coroutine there and waits for its result."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="inprocess-apps", daemon=True)
        self.thread.start()
        self.exit = contextlib.AsyncExitStack()
        self.clients: dict[str, httpx.AsyncClient] = {}

    def call(self, coro, timeout: float = 300.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def serve(self, name: str, app) -> httpx.AsyncClient:
        """Enter `app`'s lifespan (start-up runs now) and return a client for it."""
        async def start():
            await self.exit.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}.inprocess",
                                       timeout=300)
            return await self.exit.enter_async_context(client)
        self.clients[name] = self.call(start())
        return self.clients[name]

    def request(self, name: str, method: str, path: str, **kwargs) -> httpx.Response:
        return self.call(self.clients[name].request(method, path, **kwargs))

    def close(self) -> None:
        self.call(self.exit.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def start_stack(data_dir, orchestrator_env: dict | None = None) -> AppLoop:
    """The four apps in this process, the orchestrator calling the stage apps in-process."""
    apps = AppLoop()
    stages = {"encoder": create_encoder(EncoderSettings()),
              "synthesizer": create_synthesizer(SynthesizerSettings(max_frames_per_sentence=400)),
              "vocoder": create_vocoder(VocoderSettings())}
    mounts = {}
    for name, app in stages.items():
        apps.serve(name, app)
        mounts[STAGE_URLS[name]] = httpx.ASGITransport(app=app)
    settings = OrchestratorSettings(data_dir=str(data_dir), encoder_urls=STAGE_URLS["encoder"],
                                    synthesizer_urls=STAGE_URLS["synthesizer"], vocoder_urls=STAGE_URLS["vocoder"],
                                    **(orchestrator_env or {}))
    apps.serve("orchestrator", create_orchestrator(settings, stage_mounts=mounts))
    return apps
