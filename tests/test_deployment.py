"""The Dockerfiles, Procfiles, compose file and Kubernetes manifests name commands, files and settings
that exist, and start services exactly the way the integration tests do (common.stack)."""
import re

import pytest
import yaml

from common.stack import MODULES
from tests.conftest import ROOT


def settings_class(service: str):
    from encoder_svc.app import EncoderSettings
    from orchestrator_svc.app import OrchestratorSettings
    from synthesizer_svc.app import SynthesizerSettings
    from vocoder_svc.app import VocoderSettings
    return {"encoder": EncoderSettings, "synthesizer": SynthesizerSettings, "vocoder": VocoderSettings,
            "orchestrator": OrchestratorSettings}[service]


def assert_known_settings(service: str, names):
    fields = {f.upper() for f in settings_class(service).model_fields}
    unknown = {n for n in names if n.upper() not in fields}
    assert not unknown, f"{service}: settings that do not exist: {unknown}"


def assert_runnable(command: list[str], extra_modules=()):
    assert command[:2] == ["python", "-m"], command
    assert command[2] in (*MODULES.values(), *extra_modules), f"{command} is not how common.stack starts a service"
    assert (ROOT / command[2] / "__main__.py").exists() or (ROOT / (command[2].replace(".", "/") + ".py")).exists()


@pytest.mark.parametrize("service", list(MODULES))
def test_dockerfile(service):
    text = (ROOT / MODULES[service] / "Dockerfile").read_text()
    cmd = re.search(r'^CMD (\[.*\])', text, re.MULTILINE).group(1)
    assert_runnable(yaml.safe_load(cmd))
    for src in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
        assert (ROOT / src).exists() or src == "models/synthesizer.pt" and (ROOT / "models").is_dir(), src
    port = int(re.search(r"^EXPOSE (\d+)", text, re.MULTILINE).group(1))
    assert port == settings_class(service).model_fields["port"].default
    env = re.search(r"^ENV (.*)$", text, re.MULTILINE).group(1)
    assert_known_settings(service, [kv.split("=")[0] for kv in env.split() if kv.split("=")[0] != "PYTHONUNBUFFERED"])


@pytest.mark.parametrize("service", list(MODULES))
def test_procfile(service):
    processes = dict(line.split(": ", 1) for line in (ROOT / MODULES[service] / "Procfile").read_text().splitlines())
    assert "web" in processes
    for command in processes.values():
        assert_runnable(command.split(), extra_modules=("orchestrator_svc.worker",))


def test_compose_file():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(compose["services"]) == set(MODULES) | {"worker", "redis"}
    worker = compose["services"].pop("worker")
    assert_runnable(worker["command"], extra_modules=("orchestrator_svc.worker",))
    assert_known_settings("orchestrator", worker["environment"])
    assert worker["environment"]["REDIS_URL"] == compose["services"]["orchestrator"]["environment"]["REDIS_URL"]
    assert worker["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert compose["services"].pop("redis")["image"].startswith("redis:")
    for name, svc in compose["services"].items():
        assert (ROOT / svc["build"]["dockerfile"]).exists()
        assert_known_settings(name, svc["environment"])
        port = int(svc["environment"]["PORT"])
        assert port == settings_class(name).model_fields["port"].default
    orch = compose["services"]["orchestrator"]["environment"]
    for stage in ("encoder", "synthesizer", "vocoder"):
        url = orch[f"{stage.upper()}_URLS"]
        assert url == f"http://{stage}:{compose['services'][stage]['environment']['PORT']}"
    assert compose["services"]["synthesizer"]["deploy"]["replicas"] >= 2


@pytest.mark.parametrize("service", list(MODULES))
def test_kubernetes_manifest(service):
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / f"{service}.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert_runnable(container["command"])
    env = {e["name"]: e["value"] for e in container["env"]}
    assert_known_settings(service, env)
    port = int(env["PORT"])
    assert container["ports"][0]["containerPort"] == port == kinds["Service"]["spec"]["ports"][0]["port"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"]


def test_kubernetes_worker_and_redis():
    kinds = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "worker.yaml").read_text())}
    assert set(kinds) == {"Deployment", "HorizontalPodAutoscaler"}
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert_runnable(container["command"], extra_modules=("orchestrator_svc.worker",))
    env = {e["name"]: e["value"] for e in container["env"]}
    assert_known_settings("orchestrator", env)
    redis = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "redis.yaml").read_text())}
    host, port = env["REDIS_URL"].split("//")[1].split("/")[0].split(":")
    assert host == redis["Service"]["metadata"]["name"] and int(port) == redis["Service"]["spec"]["ports"][0]["port"]


def test_probe_routes_exist_on_every_app():
    from encoder_svc.app import create as enc
    from orchestrator_svc.app import create as orch
    from synthesizer_svc.app import create as syn
    from vocoder_svc.app import create as voc
    for create in (enc, syn, voc, orch):
        paths = set(create().openapi()["paths"])  # routers included: app.routes holds the routers, not routes
        assert {"/healthz", "/readyz", "/metrics", "/v1/info" if create is not orch else "/v1/clone"} <= paths
