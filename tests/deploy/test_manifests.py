"""The deployment files in deploy/: schema-valid and consistent with the code.

No Docker daemon or cluster here: Kubernetes manifests are built with
`kubectl kustomize` (offline) and checked against kubernetes-validate's bundled
schemas; the Compose file against the compose-spec schema that check-jsonschema
vendors. Project rules are checked on top: every setting read from the
environment is set, probes hit /healthz, Orthanc stays internal (reached only by
the platform and the proxy's image path), the GPU worker asks for one GPU and
runs one process, images are pinned; the proxy gets every variable of its nginx
template, its entrypoint scripts build the image store's credentials and the
image path's folders, and a shipper beside it ships its image access log."""

import base64
import importlib.resources
import json
import os
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
    for service in ("web", "worker", "migrate", "image-access-shipper"):
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
    assert "backend" in orthanc["networks"]
    for network in orthanc["networks"]:
        assert compose["networks"][network]["internal"] is True, network
    published = {name for name, svc in compose["services"].items() if "ports" in svc}
    assert published == {"proxy"}
    assert "backend" not in compose["services"]["proxy"]["networks"]
    # Orthanc's other network holds the proxy (its image path) and nothing else.
    for network in set(orthanc["networks"]) - {"backend"}:
        members = {
            n for n, svc in compose["services"].items() if network in svc.get("networks", [])
        }
        assert members == {"orthanc", "proxy"}, network

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
    # The platform's pods and the proxy's image path; never the Ingress controller.
    assert _allowed_sources(k8s, "orthanc-internal") == {
        (("platform-client", "true"),): [8042],
        (("app", "proxy"),): [8042],
    }
    proxy_labels = _find(k8s, "Deployment", "proxy")["spec"]["template"]["metadata"]["labels"]
    assert "platform-client" not in proxy_labels


def _allowed_sources(docs: list[dict[str, Any]], policy: str) -> dict[tuple, list[int]]:
    """The pods (their labels) a NetworkPolicy admits, and on which ports; every source
    is a pod selector of this namespace."""
    allowed: dict[tuple, list[int]] = {}
    for rule in _find(docs, "NetworkPolicy", policy)["spec"]["ingress"]:
        ports = sorted(p["port"] for p in rule["ports"])
        for source in rule["from"]:
            assert set(source) == {"podSelector"}, source
            allowed[tuple(sorted(source["podSelector"]["matchLabels"].items()))] = ports
    return allowed


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
        images += [c["image"] for c in spec.get("containers", []) + spec.get("initContainers", [])]
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


# --- the edge's image path: nginx serves pixels from Orthanc, a shipper audits them ----

NGINX_DIR = DEPLOY / "docker" / "nginx"
TEMPLATE = NGINX_DIR / "default.conf.template"
AUTHORIZATION_SCRIPT = NGINX_DIR / "18-image-store-authorization.envsh"
FOLDERS_SCRIPT = NGINX_DIR / "19-image-access-folders.sh"
# Built at the proxy's start by AUTHORIZATION_SCRIPT from these (never set as a value).
BUILT_FROM = {"IMAGE_STORE_AUTHORIZATION": {"ORTHANC_USERNAME", "ORTHANC_PASSWORD"}}
NGINX_GID = 101  # the nginx user's group in the nginx image
SHIP_COMMAND = ["python", "manage.py", "ship_image_access_log"]


def template_variables() -> set[str]:
    return set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))


def _proxy_stage() -> str:
    text = re.sub(r"\\\n", " ", (DEPLOY / "docker" / "app.Dockerfile").read_text())
    return text[text.index("AS proxy") :]


def proxy_image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV\s+(.+)$", _proxy_stage(), re.M):
        env.update(pair.split("=", 1) for pair in line.split())
    return env


def _provided(names: set[str]) -> set[str]:
    return names | {built for built, sources in BUILT_FROM.items() if sources <= names}


def _k8s_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _proxy_pod(k8s: list[dict[str, Any]]) -> dict[str, Any]:
    return _find(k8s, "Deployment", "proxy")["spec"]["template"]["spec"]


def _k8s_shipper(k8s: list[dict[str, Any]]) -> dict[str, Any]:
    pod = _proxy_pod(k8s)
    shippers = [
        c
        for c in pod.get("initContainers", []) + pod["containers"]
        if c.get("command", [])[:3] == SHIP_COMMAND
    ]
    assert len(shippers) == 1, "the proxy pod has no image access shipper"
    return shippers[0]


def _dicomweb_route(dicomweb_url: str) -> dict[str, str]:
    """IMAGE_STORE_UPSTREAM and IMAGE_STORE_ROOT for the platform's DICOMWEB_URL, as the
    loopback runner (deploy/nginx/run_nginx.py, which the edge's tests run) derives them."""
    from tests.fixtures.nginx import load_nginx_runner

    values = load_nginx_runner().ImageStoreRoute(dicomweb_url, "u", "p").values(Path("/x"))
    return {k: values[k] for k in ("IMAGE_STORE_UPSTREAM", "IMAGE_STORE_ROOT")}


def test_template_variables_are_the_runners_and_the_images_defaults() -> None:
    names = template_variables()
    assert {"WEB_UPSTREAM", "IMAGE_STORE_AUTHORIZATION", "IMAGE_ACCESS_LOG_DIR"} <= names
    # The image has a default for each, except the secret.
    assert set(proxy_image_env()) == names - set(BUILT_FROM)
    assert "ORTHANC_PASSWORD" not in proxy_image_env()
    # The entrypoint's envsubst replaces every $NAME the environment defines: nginx's
    # own variables in the template must never be upper case, as environment names are.
    for name in re.findall(r"\$\{?(\w+)", TEMPLATE.read_text()):
        assert name in names or not name.isupper(), name


def test_compose_proxy_gets_every_variable_of_its_template(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["proxy"]["environment"]
    missing = template_variables() - _provided(set(env))
    assert not missing, f"compose proxy lacks {sorted(missing)}"
    assert not set(BUILT_FROM) & set(env), "the Authorization header is built, not stored"
    # Orthanc's credentials: the platform's, from the same .env entry.
    web = services["web"]["environment"]
    assert env["ORTHANC_USERNAME"] == web["DICOMWEB_USERNAME"]
    assert env["ORTHANC_PASSWORD"] == web["DICOMWEB_PASSWORD"]
    assert {k: env[k] for k in ("IMAGE_STORE_UPSTREAM", "IMAGE_STORE_ROOT")} == _dicomweb_route(
        web["DICOMWEB_URL"]
    )
    assert env["ORTHANC_USERNAME"] == services["orthanc"]["environment"]["ORTHANC_USERNAME"]


def test_k8s_proxy_gets_every_variable_of_its_template(k8s: list[dict[str, Any]]) -> None:
    nginx = _container(k8s, "Deployment", "proxy")
    env = _k8s_env(nginx)
    missing = template_variables() - _provided(set(env))
    assert not missing, f"k8s proxy lacks {sorted(missing)}"
    assert not set(BUILT_FROM) & set(env), "the Authorization header is built, not stored"
    web = _k8s_env(_container(k8s, "Deployment", "web"))
    assert env["ORTHANC_PASSWORD"]["valueFrom"] == web["DICOMWEB_PASSWORD"]["valueFrom"]
    assert env["ORTHANC_USERNAME"]["valueFrom"] == {
        "configMapKeyRef": {"name": "platform-config", "key": "DICOMWEB_USERNAME"}
    }
    config = _find(k8s, "ConfigMap", "platform-config")["data"]
    route = {k: env[k]["value"] for k in ("IMAGE_STORE_UPSTREAM", "IMAGE_STORE_ROOT")}
    assert route == _dicomweb_route(config["DICOMWEB_URL"])
    assert int(env["IMAGE_ACCESS_GRANT_SECONDS"]["value"]) > 0


def test_compose_ships_the_proxys_image_access_log(compose: dict[str, Any]) -> None:
    services = compose["services"]
    proxy = services["proxy"]
    log_dir = proxy["environment"]["IMAGE_ACCESS_LOG_DIR"]
    shippers = [s for s in services.values() if s.get("command", [])[:3] == SHIP_COMMAND]
    assert len(shippers) == 1
    shipper = shippers[0]
    assert shipper["command"][3:] == [log_dir, "--follow"]
    # The same named volume, at the same place, in both.
    proxy_volume = [v.split(":")[0] for v in proxy["volumes"] if v.split(":")[1] == log_dir]
    shipper_volume = [v.split(":")[0] for v in shipper["volumes"] if v.split(":")[1] == log_dir]
    assert proxy_volume == shipper_volume and proxy_volume[0] in compose["volumes"]
    # The platform's settings and database, once migrated; nginx's group to delete files.
    assert shipper["environment"] == services["web"]["environment"]
    assert shipper["image"] == services["web"]["image"]
    assert "backend" in shipper["networks"]
    assert shipper["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert shipper["depends_on"]["db"] == {"condition": "service_healthy"}
    assert [int(g) for g in shipper["group_add"]] == [NGINX_GID]
    assert shipper["restart"] == "unless-stopped"
    # The decision cache (keys hold session cookies and tokens) is in memory only.
    cache = proxy["environment"]["IMAGE_ACCESS_CACHE"]
    assert [m for m in proxy["tmpfs"] if m.split(":")[0] == cache]
    assert not [v for v in proxy["volumes"] if v.split(":")[1] == cache]


def test_k8s_proxy_pod_ships_its_own_image_access_log(k8s: list[dict[str, Any]]) -> None:
    pod = _proxy_pod(k8s)
    nginx, shipper = _container(k8s, "Deployment", "proxy"), _k8s_shipper(k8s)
    nginx_env, shipper_env = _k8s_env(nginx), _k8s_env(shipper)
    # A sidecar: started before nginx, stopped after it.
    assert shipper in pod["initContainers"] and shipper["restartPolicy"] == "Always"
    # Both see the same folder, named after the pod: the shipper's cursor, in the shared
    # database, is keyed by the file's path, and every pod writes the same file names.
    log_dir = nginx_env["IMAGE_ACCESS_LOG_DIR"]["value"]
    assert "$(POD_NAME)" in log_dir
    assert shipper_env["IMAGE_ACCESS_LOG_DIR"]["value"] == log_dir
    assert shipper["command"][3:] == ["$(IMAGE_ACCESS_LOG_DIR)", "--follow"]
    for env in (nginx_env, shipper_env):
        assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        names = list(env)
        assert names.index("POD_NAME") < names.index("IMAGE_ACCESS_LOG_DIR")
    volumes = {v["name"]: v for v in pod["volumes"]}

    def volume_holding(container: dict[str, Any], path: str) -> str:
        (name,) = [
            m["name"]
            for m in container["volumeMounts"]
            if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
        ]
        return name

    log_volume = volume_holding(nginx, log_dir)
    assert volume_holding(shipper, log_dir) == log_volume
    assert volumes[log_volume]["emptyDir"].get("medium") is None  # one per pod, on disk
    cache_volume = volume_holding(nginx, nginx_env["IMAGE_ACCESS_CACHE"]["value"])
    assert volumes[cache_volume]["emptyDir"]["medium"] == "Memory"
    assert cache_volume not in {m["name"] for m in shipper["volumeMounts"]}
    assert pod["securityContext"]["fsGroup"] == NGINX_GID
    # The web pods' image, settings and secrets (the database's among them).
    web = _container(k8s, "Deployment", "web")
    assert shipper["image"] == web["image"]
    assert shipper["envFrom"] == web["envFrom"]
    assert [e for e in shipper["env"] if e["name"] in _k8s_env(web)] == web["env"]


def test_k8s_proxy_reaches_orthanc_and_its_shipper_postgres_only(
    k8s: list[dict[str, Any]],
) -> None:
    proxy = (("app", "proxy"),)
    assert _allowed_sources(k8s, "orthanc-internal")[proxy] == [8042]
    assert _allowed_sources(k8s, "postgres-internal")[proxy] == [5432]
    assert proxy not in _allowed_sources(k8s, "redis-internal")
    orthanc = _find(k8s, "Service", "orthanc")["spec"]["ports"][0]["port"]
    nginx = _k8s_env(_container(k8s, "Deployment", "proxy"))
    assert nginx["IMAGE_STORE_UPSTREAM"]["value"] == f"orthanc:{orthanc}"


def test_proxy_image_prepares_its_environment_before_rendering_the_template() -> None:
    stage = _proxy_stage()
    for script in (AUTHORIZATION_SCRIPT, FOLDERS_SCRIPT):
        assert os.access(script, os.X_OK), f"{script.name} must be executable"
        copied = " ".join(re.findall(r"^COPY\s+(.+)$", stage, re.M))
        assert f"deploy/docker/nginx/{script.name}" in copied
        assert f"/docker-entrypoint.d/{script.name}" in stage  # chmod in the image too
        # The entrypoint runs them in version order; 20-envsubst-on-templates.sh renders.
        assert int(script.name.split("-")[0]) < 20
    assert AUTHORIZATION_SCRIPT.suffix == ".envsh"  # sourced: its exports reach envsubst


def _run_sh(script: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", script],
        env={"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )


def test_proxy_entrypoint_renders_the_template_with_orthancs_credentials(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """What the image's entrypoint does at start, with Compose's proxy environment:
    source the .envsh, then envsubst the template with every variable defined."""
    if not shutil.which("envsubst"):
        pytest.skip("envsubst (gettext-base) not installed")
    env = {**proxy_image_env(), **compose["services"]["proxy"]["environment"]}
    # Compose's own interpolation: defaults, and the .env's password.
    env = {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}
    assert env["ORTHANC_PASSWORD"].startswith("${ORTHANC_PASSWORD:?")
    env["ORTHANC_PASSWORD"] = 'pa$s:"w%rd'
    render = (
        f'set -e; . "{AUTHORIZATION_SCRIPT}"; '
        "defined=$(printf '${%s} ' $(awk 'END { for (n in ENVIRON) print n }' </dev/null)); "
        f'envsubst "$defined" < "{TEMPLATE}"'
    )
    result = _run_sh(render, env, tmp_path)
    assert result.returncode == 0, result.stderr
    token = base64.b64encode(b'platform:pa$s:"w%rd').decode()
    assert f'proxy_set_header Authorization "Basic {token}";' in result.stdout
    assert "server orthanc:8042;" in result.stdout
    assert "rewrite ^/dicomweb/(.*)$ /dicom-web/$1 break;" in result.stdout
    assert "proxy_cache_valid 200 10s;" in result.stdout
    assert not re.search(r"\$\{?[A-Z]", result.stdout), "a template variable is left"

    # Given whole, it is kept; without credentials, or with a value that would break out
    # of nginx's quoted string, the proxy does not start.
    source = f'set -e; . "{AUTHORIZATION_SCRIPT}"; echo "$IMAGE_STORE_AUTHORIZATION"'
    kept = _run_sh(source, {"IMAGE_STORE_AUTHORIZATION": "Basic abc="}, tmp_path)
    assert kept.returncode == 0 and kept.stdout == "Basic abc=\n"
    for refused in ({}, {"ORTHANC_USERNAME": "platform"}, {"IMAGE_STORE_AUTHORIZATION": 'x"; a'}):
        result = _run_sh(source, refused, tmp_path)
        assert result.returncode != 0 and "image-store-authorization" in result.stderr


def test_proxy_entrypoint_makes_the_image_access_folders(tmp_path: Path) -> None:
    """As root in the image: the log folder nginx's, group-writable for the shipper; the
    decision cache nginx's alone. (id and chown are stand-ins here.)"""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    (bin_dir / "chown").write_text(f'#!/bin/sh\necho "$@" >> "{tmp_path}/chown.log"\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    env = {
        "IMAGE_ACCESS_LOG_DIR": str(tmp_path / "log" / "proxy-abc"),
        "IMAGE_ACCESS_CACHE": str(tmp_path / "cache"),
    }
    # Run, and sourced (as an entrypoint may): no exit on success, the rest goes on.
    result = _run_sh(f'"{FOLDERS_SCRIPT}"', env, tmp_path)
    assert result.returncode == 0, result.stderr
    result = _run_sh(f'set -e; . "{FOLDERS_SCRIPT}"; echo next', env, tmp_path)
    assert result.returncode == 0 and result.stdout == "next\n", result.stderr
    log_dir, cache = Path(env["IMAGE_ACCESS_LOG_DIR"]), Path(env["IMAGE_ACCESS_CACHE"])
    assert log_dir.stat().st_mode & 0o7777 == 0o2775
    assert cache.stat().st_mode & 0o7777 == 0o700
    assert (tmp_path / "chown.log").read_text().splitlines()[0] == f"nginx:nginx {log_dir} {cache}"

    (bin_dir / "chown").write_text("#!/bin/sh\nexit 1\n")
    result = _run_sh(f'"{FOLDERS_SCRIPT}"', env, tmp_path)
    assert result.returncode != 0 and "image-access-folders" in result.stderr
    result = _run_sh(f'"{FOLDERS_SCRIPT}"', {}, tmp_path)
    assert result.returncode != 0
