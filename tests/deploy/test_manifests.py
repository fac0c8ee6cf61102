"""The deployment files in deploy/: schema-valid and consistent with the code.

No Docker daemon or cluster here: Kubernetes manifests are built with
`kubectl kustomize` (offline) and checked against kubernetes-validate's bundled
schemas; the Compose file against the compose-spec schema that check-jsonschema
vendors. Project rules are checked on top: every setting read from the
environment is set, probes hit /healthz, Orthanc stays internal, the GPU worker
asks for one GPU and runs one process, images are pinned."""

import importlib.resources
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.urls import resolve

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
K8S_BASE = DEPLOY / "k8s" / "base"
K8S_VERSION = "1.32.0"  # the oldest Kubernetes we support
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
_ENV_CALL = re.compile(r'env_(?:str|bool|int|list)\(\s*"([A-Z0-9_]+)"')
_OS_ENV = re.compile(r'os\.environ\.get\(\s*"([A-Z0-9_]+)"')
# Read by settings but set by the platform or per host, not by a deployment.
NOT_DEPLOYMENT_SETTINGS: set[str] = set()


def _kustomize(path: Path) -> list[dict[str, Any]]:
    if shutil.which("kubectl"):
        out = subprocess.run(
            ["kubectl", "kustomize", str(path)], check=True, capture_output=True, text=True
        ).stdout
        return [d for d in yaml.safe_load_all(out) if d]
    # Without kubectl: the base's resources as written (no namespace/label transforms).
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S_BASE / name).read_text()) if d]
    return docs


@pytest.fixture(scope="module")
def k8s() -> list[dict[str, Any]]:
    return _kustomize(DEPLOY / "k8s" / "overlays" / "example")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name} missing"
    return matches[0]


def _container(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return _find(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]


def settings_env_names() -> set[str]:
    names = set(_ENV_CALL.findall((REPO / "platform" / "config" / "settings.py").read_text()))
    return names - NOT_DEPLOYMENT_SETTINGS


def ml_worker_env_names() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "ml_worker").rglob("*.py"):
        names |= set(_OS_ENV.findall(path.read_text()))
    return names


def test_k8s_manifests_are_schema_valid(k8s: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in k8s}
    assert {"Deployment", "StatefulSet", "Service", "Ingress", "NetworkPolicy"} <= kinds
    assert {"HorizontalPodAutoscaler", "ConfigMap", "PersistentVolumeClaim", "Job"} <= kinds
    for doc in k8s:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    # The validator is live: an unknown field in a container is refused.
    broken = json.loads(json.dumps(_find(k8s, "Deployment", "web")))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_k8s_base_builds_and_holds_no_secret_values() -> None:
    docs = _kustomize(K8S_BASE)
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are created per site"
    text = "\n".join(p.read_text() for p in (DEPLOY / "k8s").rglob("*.yaml"))
    # No YAML key named like a secret with a literal value (references are `key: NAME`).
    assert not re.search(r"(?im)^[\s-]*\w*(password|secret_key|deid_key)\w*\s*:\s*\S", text)


def test_compose_file_matches_the_compose_spec(compose: dict[str, Any]) -> None:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    jsonschema.validate(compose, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**compose, "services": {"web": {"restart": 3}}}, schema)


def test_every_setting_read_from_the_environment_is_set(
    compose: dict[str, Any], k8s: list[dict[str, Any]]
) -> None:
    wanted = settings_env_names()
    assert {"SECRET_KEY", "DATABASE_URL", "DEID_KEY", "OIDC_RP_CLIENT_ID"} <= wanted
    for service in ("web", "worker", "migrate"):
        missing = wanted - set(compose["services"][service]["environment"])
        assert not missing, f"compose {service} lacks {sorted(missing)}"
    config = set(_find(k8s, "ConfigMap", "platform-config")["data"])
    web = _container(k8s, "Deployment", "web")
    secret_refs = {e["name"] for e in web["env"] if "secretKeyRef" in e["valueFrom"]}
    assert not wanted - config - secret_refs, sorted(wanted - config - secret_refs)
    assert not config & secret_refs, "a setting is both plain and secret"
    worker = _container(k8s, "Deployment", "worker")
    assert {"configMapRef": {"name": "platform-config"}} in worker["envFrom"]
    assert {"secretRef": {"name": "platform-secrets"}} in worker["envFrom"]

    gpu_wanted = ml_worker_env_names()
    assert {"REDIS_URL", "DICOMWEB_URL", "DICOMWEB_PASSWORD"} <= gpu_wanted
    assert not gpu_wanted - set(compose["services"]["gpu-worker"]["environment"])
    gpu = _container(k8s, "Deployment", "gpu-worker")
    assert not gpu_wanted - {e["name"] for e in gpu["env"]}


def test_health_checks_use_healthz_which_exists(
    compose: dict[str, Any], k8s: list[dict[str, Any]]
) -> None:
    assert resolve("/healthz").url_name == "healthz"
    for service in ("web", "proxy"):
        assert "/healthz" in " ".join(compose["services"][service]["healthcheck"]["test"])
    web = _container(k8s, "Deployment", "web")
    for probe in ("readinessProbe", "livenessProbe"):
        assert web[probe]["httpGet"]["path"] == "/healthz"
        assert web[probe]["httpGet"]["port"] == "http"
    assert _container(k8s, "Deployment", "proxy")["readinessProbe"]["httpGet"]["path"] == "/healthz"
    for kind, name in [("Deployment", n) for n in ("worker", "gpu-worker")] + [
        ("StatefulSet", n) for n in ("postgres", "redis", "orthanc")
    ]:
        container = _container(k8s, kind, name)
        assert "readinessProbe" in container and "livenessProbe" in container, name


def test_orthanc_is_never_published(compose: dict[str, Any], k8s: list[dict[str, Any]]) -> None:
    orthanc = compose["services"]["orthanc"]
    assert "ports" not in orthanc and "expose" not in orthanc
    assert orthanc["networks"] == ["backend"]
    assert compose["networks"]["backend"]["internal"] is True
    published = {name for name, svc in compose["services"].items() if "ports" in svc}
    assert published == {"proxy"}
    assert "backend" not in compose["services"]["proxy"]["networks"]

    service = _find(k8s, "Service", "orthanc")
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    for ingress in (d for d in k8s if d["kind"] == "Ingress"):
        backends = {
            p["backend"]["service"]["name"]
            for rule in ingress["spec"]["rules"]
            for p in rule["http"]["paths"]
        }
        assert backends == {"proxy"}
    policy = _find(k8s, "NetworkPolicy", "orthanc-internal")
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app": "orthanc"}
    allowed = [src["podSelector"]["matchLabels"] for src in policy["spec"]["ingress"][0]["from"]]
    assert allowed == [{"platform-client": "true"}]
    proxy_labels = _find(k8s, "Deployment", "proxy")["spec"]["template"]["metadata"]["labels"]
    assert "platform-client" not in proxy_labels


def _celery_args(container: dict[str, Any]) -> str:
    return " ".join(container.get("command", []) + container.get("args", []))


def test_gpu_worker_takes_one_gpu_and_runs_one_process(
    compose: dict[str, Any], k8s: list[dict[str, Any]]
) -> None:
    deployment = _find(k8s, "Deployment", "gpu-worker")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["nodeSelector"] and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert deployment["spec"]["replicas"] == 2  # the example overlay scales it
    args = _celery_args(container)
    assert "-Q gpu" in args and "--concurrency 1" in args
    assert "--pool solo" in args or "--pool threads" in args

    gpu = compose["services"]["gpu-worker"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["count"] == 1 and device["capabilities"] == ["gpu"]
    assert "--pool solo" in " ".join(gpu["command"]) and "--concurrency 1" in " ".join(
        gpu["command"]
    )
    dockerfile = (DEPLOY / "docker" / "gpu-worker.Dockerfile").read_text()
    assert re.search(r"^FROM nvidia/cuda:\S+", dockerfile, re.M)
    assert "--pool solo" in dockerfile
    hpa = _find(k8s, "HorizontalPodAutoscaler", "web")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web" and hpa["spec"]["maxReplicas"] > 2


def _dockerfile_images() -> list[str]:
    images = []
    for path in DOCKERFILES:
        stages: set[str] = set()
        for match in re.finditer(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", path.read_text(), re.M | re.I):
            if match[1] not in stages:
                images.append(match[1])
            if match[2]:
                stages.add(match[2])
    return images


def test_every_image_is_pinned_by_tag(compose: dict[str, Any], k8s: list[dict[str, Any]]) -> None:
    images = [svc["image"] for svc in compose["services"].values() if "image" in svc]
    for doc in k8s:
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        images += [c["image"] for c in spec.get("containers", [])]
    images += _dockerfile_images()
    assert len(images) > 15
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{image} is not pinned"


def test_dockerfiles_parse_and_copy_only_existing_files() -> None:
    assert {p.name for p in DOCKERFILES} == {
        "app.Dockerfile",
        "gpu-worker.Dockerfile",
        "orthanc.Dockerfile",
    }
    for path in DOCKERFILES:
        text = re.sub(r"\\\n", " ", path.read_text())
        stages = {m.lower() for m in re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I)}
        instructions = [line.split()[0] for line in text.splitlines() if line.strip()]
        known = {"FROM", "RUN", "COPY", "ENV", "WORKDIR", "USER", "EXPOSE", "CMD", "HEALTHCHECK"}
        assert {i for i in instructions if not i.startswith("#")} <= known, path.name
        for line in re.findall(r"^COPY\s+(.+)$", text, re.M):
            parts = line.split()
            from_stage = [p for p in parts if p.startswith("--from=")]
            sources = [p for p in parts if not p.startswith("--")][:-1]
            assert sources, line
            if from_stage:
                assert from_stage[0].split("=", 1)[1].lower() in stages, line
                continue
            for source in sources:
                assert (REPO / source).exists(), f"{path.name}: COPY {source} does not exist"
        assert re.search(r"^(CMD|ENTRYPOINT)", text, re.M), path.name


def test_k8s_postgres_init_script_is_the_compose_one(k8s: list[dict[str, Any]]) -> None:
    script = (DEPLOY / "docker" / "postgres" / "init-orthanc-db.sh").read_text()
    assert _find(k8s, "ConfigMap", "postgres-init")["data"]["10-orthanc.sh"] == script


def test_orthanc_container_config_is_json_with_its_plugins_and_env_secrets() -> None:
    text = (DEPLOY / "docker" / "orthanc" / "orthanc.json").read_text()
    names = set(re.findall(r"\$\{([A-Z_]+)\}", text))
    assert {"ORTHANC_PASSWORD", "ORTHANC_DB_PASSWORD", "ORTHANC_DB_HOST"} <= names
    config = json.loads(re.sub(r"\$\{[A-Z_]+\}", "x", text))
    assert config["AuthenticationEnabled"] is True and config["DicomWeb"]["Enable"] is True
    assert config["PostgreSQL"]["EnableIndex"] is True
    plugins = {Path(p).name for p in config["Plugins"]}
    assert plugins == {"libOrthancDicomWeb.so", "libOrthancPostgreSQLIndex.so"}
    compose_env = yaml.safe_load(COMPOSE.read_text())["services"]["orthanc"]["environment"]
    assert names <= set(compose_env)
