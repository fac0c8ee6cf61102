"""nginx in front of the platform, as deployed: deploy/docker/nginx/default.conf.template
rendered for loopback, run by Debian's nginx (nginx-light) in a folder of its own. Used by
`make demo` (the front on 127.0.0.1:8000), the tests of the edge's image path and the
benchmarks that measure the deployed path.

    ORTHANC_USERNAME=... ORTHANC_PASSWORD=... python deploy/nginx/run_nginx.py \
        --upstream 127.0.0.1:8001 --port 8000 --workdir var/nginx \
        --static platform/staticfiles --dicomweb-url http://127.0.0.1:8042/dicom-web

Only the listen address, the static folder and the template's ${VARS} change; everything else
(upstreams, the image path and its access cache, proxy headers, buffering) is the deployed file's.

Loaded by path (deploy/ is not a package), like deploy/orthanc/run_orthanc.py."""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "docker" / "nginx" / "default.conf.template"

MAIN_CONFIG = """daemon off;
{user}worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;  # as the nginx image's main config does
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/site.conf;
}}
"""


@dataclass(frozen=True)
class ImageStoreRoute:
    """Where nginx fetches the pixels it serves itself: the DICOMweb root and its credentials."""

    dicomweb_url: str
    username: str
    password: str
    grant_seconds: int = 10

    def values(self, workdir: Path) -> dict[str, str]:
        parts = urlsplit(self.dicomweb_url)
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {
            "IMAGE_STORE_UPSTREAM": parts.netloc,
            "IMAGE_STORE_ROOT": parts.path.rstrip("/"),
            "IMAGE_STORE_AUTHORIZATION": f"Basic {token}",
            "IMAGE_ACCESS_LOG_DIR": str(workdir / "image-access"),
            "IMAGE_ACCESS_CACHE": str(workdir / "image-access-cache"),
            "IMAGE_ACCESS_GRANT_SECONDS": str(self.grant_seconds),
        }


def render_site(values: dict[str, str], port: int, static_dir: Path) -> str:
    """The deployed server block with the template's variables filled in, listening on
    127.0.0.1:port."""
    text = TEMPLATE.read_text(encoding="utf-8")
    names = set(re.findall(r"\$\{(\w+)\}", text))
    if names != set(values):
        raise RuntimeError(f"template variables {sorted(names)}, given {sorted(values)}")
    for name, value in values.items():
        text = text.replace(f"${{{name}}}", value)
    text, listens = re.subn(r"listen \d+;", f"listen 127.0.0.1:{port};", text)
    if listens != 1:
        raise RuntimeError("expected one listen directive in the template")
    return text.replace("alias /srv/static/;", f"alias {static_dir}/;")


def nginx_binary() -> str | None:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    return binary if Path(binary).exists() else None


@contextmanager
def nginx_front(
    upstream: str, port: int, workdir: Path, static_dir: Path, image_store: ImageStoreRoute
) -> Iterator[str]:
    """Run nginx on 127.0.0.1:port in front of upstream (host:port) and the image store;
    yields its URL. The image access log is written under workdir/image-access/."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is needed: Debian's nginx-light (make setup installs it)")
    (workdir / "image-access").mkdir(parents=True, exist_ok=True)
    values = {
        "WEB_UPSTREAM": upstream,
        "CLIENT_MAX_BODY_SIZE": "2g",
        **image_store.values(workdir),
    }
    (workdir / "site.conf").write_text(render_site(values, port, static_dir))
    # Started by root (CI), the workers would run as nobody, who cannot write the
    # access cache and log in a private temporary folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (workdir / "nginx.conf").write_text(MAIN_CONFIG.format(root=workdir, user=user))
    process = subprocess.Popen([binary, "-c", str(workdir / "nginx.conf")])
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish open requests
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with code {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("nginx did not listen in time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the platform's host:port")
    parser.add_argument("--port", type=int, default=8000, help="listen on 127.0.0.1:PORT")
    parser.add_argument("--workdir", type=Path, default=Path("var/nginx"))
    parser.add_argument("--static", type=Path, required=True, help="the collected static files")
    parser.add_argument("--dicomweb-url", required=True, help="the image store's DICOMweb root")
    parser.add_argument("--grant-seconds", type=int, default=10)
    args = parser.parse_args(argv)
    password = os.environ.get("ORTHANC_PASSWORD", "")
    if not password:
        print("ORTHANC_PASSWORD is not set (the image store's credentials)", file=sys.stderr)
        return 2
    route = ImageStoreRoute(
        args.dicomweb_url,
        os.environ.get("ORTHANC_USERNAME", ""),
        password,
        grant_seconds=args.grant_seconds,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    workdir = args.workdir.resolve()
    with nginx_front(args.upstream, args.port, workdir, args.static.resolve(), route) as url:
        print(f"nginx on {url}, image access log in {workdir / 'image-access'}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
