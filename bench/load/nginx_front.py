"""nginx in front of the platform, as deployed: deploy/docker/nginx/default.conf.template
rendered for loopback, run by Debian's nginx in a temporary folder.

Only the listen address and the template's ${VARS} change; everything else (upstream
keepalive, proxy headers, buffering) is the deployed file's."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "docker" / "nginx" / "default.conf.template"

MAIN_CONFIG = """daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/site.conf;
}}
"""


def render_site(upstream: str, port: int, static_dir: Path) -> str:
    """The deployed server block, listening on 127.0.0.1:port, forwarding to upstream."""
    values = {
        "WEB_UPSTREAM": upstream,
        "CLIENT_MAX_BODY_SIZE": "2g",
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    names = set(re.findall(r"\$\{(\w+)\}", text))
    if names != set(values):
        raise RuntimeError(f"template variables changed: {sorted(names)}")
    for name, value in values.items():
        text = text.replace(f"${{{name}}}", value)
    text, listens = re.subn(r"listen \d+;", f"listen 127.0.0.1:{port};", text)
    if listens != 1:
        raise RuntimeError("expected one listen directive in the template")
    return text.replace("alias /srv/static/;", f"alias {static_dir}/;")


@contextmanager
def nginx_front(upstream: str, port: int, workdir: Path, static_dir: Path) -> Iterator[str]:
    """Run nginx on 127.0.0.1:port in front of upstream (host:port); yields its URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is needed: make bench-tools (Debian's nginx-light)")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "site.conf").write_text(render_site(upstream, port, static_dir))
    (workdir / "nginx.conf").write_text(MAIN_CONFIG.format(root=workdir))
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
