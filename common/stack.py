"""Start the four services as separate processes on loopback (what the README's start command and the
integration tests run). Each process gets its settings through environment variables, exactly as on a
Heroku-style platform or in docker-compose.

    python -m common.stack [--base-port 8000] [--synthesizers 1] [--vocoders 1]
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MODULES = {"encoder": "encoder_svc", "synthesizer": "synthesizer_svc", "vocoder": "vocoder_svc",
           "orchestrator": "orchestrator_svc"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServiceProcess:
    name: str
    port: int
    env: dict
    log_path: Path | None = None
    module: str | None = None  # default: the service's own module (MODULES)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        env = {**os.environ, **self.env, "PORT": str(self.port), "HOST": "127.0.0.1",
               "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        module = self.module or MODULES[self.name.split("-")[0]]
        self.proc = subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env,
                                     stdout=out, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready after {timeout} s; see {self.log_path}")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Stack:
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def stop(self) -> None:
        for svc in reversed(list(self.services.values())):
            svc.stop()


def plan_stack(base_port: int | None = None, synthesizers: int = 1, vocoders: int = 1, log_dir: Path | None = None,
               env: dict | None = None, orchestrator_env: dict | None = None) -> Stack:
    """Ports: base, base+1.. for fixed ports; free ports when base_port is None."""
    counter = iter(range(base_port, base_port + 100)) if base_port else None
    port = (lambda: next(counter)) if counter else free_port
    stack = Stack()
    names = ["orchestrator", "encoder"] + [f"synthesizer-{i}" for i in range(synthesizers)] + \
            [f"vocoder-{i}" for i in range(vocoders)]
    for name in names:
        log = (log_dir / f"{name}.log") if log_dir else None
        stack.services[name] = ServiceProcess(name, port(), dict(env or {}), log)
    urls = lambda kind: ",".join(s.url for n, s in stack.services.items() if n.startswith(kind))
    stack.services["orchestrator"].env.update({"ENCODER_URLS": urls("encoder"), "SYNTHESIZER_URLS": urls("synth"),
                                               "VOCODER_URLS": urls("vocoder"), **(orchestrator_env or {})})
    return stack


def start_stack(stack: Stack, timeout: float = 180.0) -> Stack:
    order = [n for n in stack.services if n != "orchestrator"] + ["orchestrator"]
    try:
        for name in order:
            stack.services[name].start()
        for name in order:
            stack.services[name].wait_ready(timeout)
    except Exception:
        stack.stop()
        raise
    return stack


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-port", type=int, default=int(os.environ.get("VOXCLONE_BASE_PORT", "8000")))
    ap.add_argument("--synthesizers", type=int, default=1)
    ap.add_argument("--vocoders", type=int, default=1)
    ap.add_argument("--log-dir", type=Path, default=ROOT / "var" / "logs")
    args = ap.parse_args(argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    stack = plan_stack(args.base_port, args.synthesizers, args.vocoders, args.log_dir)
    print("starting voxclone (first start loads the models)...", flush=True)
    start_stack(stack)
    for name, svc in stack.services.items():
        print(f"  {name:<14} {svc.url}   docs: {svc.url}/docs", flush=True)
    print(f"ready. logs in {args.log_dir}. Ctrl-C stops everything.", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while not stopping:
            for name, svc in stack.services.items():
                if svc.proc.poll() is not None:  # keep the stack whole: restart a crashed service
                    print(f"{name} exited ({svc.proc.returncode}); restarting", flush=True)
                    svc.start()
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
