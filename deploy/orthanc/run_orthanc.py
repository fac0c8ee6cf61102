"""Start the project-owned Orthanc image store: own config, own storage folder, HTTP basic auth.

Library use (tests, dev tooling)::

    with start_orthanc(storage_dir=Path("var/orthanc"), http_port=free_port(),
                       username="platform", password=secret) as orthanc:
        DICOMwebClient(orthanc.dicomweb_url, session=orthanc.session())

CLI (foreground until SIGTERM/SIGINT)::

    ORTHANC_PASSWORD=... python deploy/orthanc/run_orthanc.py --storage var/orthanc --port 8042

Only the standard library and requests are used so that this file runs from any virtualenv.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Self

import requests

BASE_CONFIG = Path(__file__).resolve().with_name("orthanc.json")
# Orthanc expands ${VAR} in its config text before parsing it; the password travels through
# this variable so that it is never written into the storage folder.
PASSWORD_ENV = "PLATFORM_ORTHANC_PASSWORD_JSON"  # noqa: S105 - a variable name, not a secret
DEFAULT_USERNAME = "platform"
_PR_SET_PDEATHSIG = 1


class OrthancStartError(RuntimeError):
    """Orthanc did not come up (bad config, port taken, plugin missing, timeout)."""


def find_orthanc_binary() -> str | None:
    """Path of the Orthanc executable: $ORTHANC_BINARY, then PATH, then Debian's /usr/sbin."""
    override = os.environ.get("ORTHANC_BINARY")
    if override:
        return override if Path(override).is_file() else None
    # /usr/sbin is often missing from PATH for non-root users.
    found = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/local/sbin")
    return found


def free_port() -> int:
    """A TCP port that is currently free on every interface (Orthanc binds all of them)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))  # noqa: S104 - probing only; Orthanc 1.10 itself binds 0.0.0.0
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As Orthanc's server does: connections of a stopped Orthanc lingering in
        # TIME_WAIT must not block a restart on its port; a listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))  # noqa: S104 - same interfaces Orthanc will bind
        except OSError:
            return True
    return False


def render_config(*, storage_dir: Path, http_port: int, username: str) -> Path:
    """Write the runtime config into storage_dir from the base config; return its path.

    Layout: storage_dir/orthanc.json (no secrets), storage_dir/db (index and DICOM files),
    storage_dir/tmp (Orthanc's large temporary files).
    """
    if not username or ":" in username:
        raise ValueError("Orthanc username must be non-empty and contain no ':'")
    storage_dir = storage_dir.resolve()
    db_dir = storage_dir / "db"
    tmp_dir = storage_dir / "tmp"
    for directory in (db_dir, tmp_dir):
        directory.mkdir(parents=True, exist_ok=True)

    config = json.loads(BASE_CONFIG.read_text(encoding="utf-8"))
    config["StorageDirectory"] = str(db_dir)
    config["IndexDirectory"] = str(db_dir)
    config["TemporaryDirectory"] = str(tmp_dir)
    config["HttpPort"] = http_port
    config["RegisteredUsers"] = {username: "${" + PASSWORD_ENV + "}"}
    text = json.dumps(config, indent=2) + "\n"
    # Any other ${...} (in a path or the username) would be silently expanded by Orthanc.
    if text.count("${") != 1:
        raise ValueError("storage path and username must not contain '${'")

    config_path = storage_dir / "orthanc.json"
    config_path.write_text(text, encoding="utf-8")
    return config_path


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the launcher is SIGKILLed (a crashed test
    # run), Orthanc must not linger holding the port and the SQLite index.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _tail(path: Path, lines: int) -> str:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))
    except OSError:
        return ""


@dataclass
class OrthancProcess:
    """A running Orthanc started by start_orthanc()."""

    process: subprocess.Popen[bytes]
    url: str
    storage_dir: Path
    config_path: Path
    log_dir: Path
    username: str
    password: str = field(repr=False)
    _stderr: IO[bytes] | None = field(default=None, repr=False)

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    @property
    def pid(self) -> int:
        return self.process.pid

    def session(self) -> requests.Session:
        """A requests session carrying the basic-auth credentials (for DICOMwebClient too)."""
        session = requests.Session()
        session.auth = self.auth
        return session

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of Orthanc's log (Orthanc.log links to the newest file) and stderr."""
        parts = [_tail(self.log_dir / "Orthanc.log", lines), _tail(self.log_dir / "stderr.log", 10)]
        return "".join(part for part in parts if part).rstrip()

    def stop(self, timeout: float = 20.0) -> int | None:
        """Terminate Orthanc (SIGTERM lets it close the index cleanly), kill after timeout."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_orthanc(
    *,
    storage_dir: Path,
    http_port: int,
    username: str,
    password: str,
    log_dir: Path | None = None,
    timeout: float = 30.0,
    die_with_parent: bool = True,
) -> OrthancProcess:
    """Render the config into storage_dir, launch Orthanc and wait until /system answers.

    die_with_parent: Linux only; Orthanc gets SIGTERM when the launching thread exits, so call
    this from a long-lived thread (the main one) or pass False.
    """
    if not password:
        raise ValueError("refusing to start Orthanc without a password")
    binary = find_orthanc_binary()
    if binary is None:
        raise OrthancStartError("Orthanc binary not found (apt-get install orthanc)")
    plugins = json.loads(BASE_CONFIG.read_text(encoding="utf-8"))["Plugins"]
    missing = [plugin for plugin in plugins if not Path(plugin).exists()]
    if missing:
        raise OrthancStartError(f"Orthanc plugin missing: {missing} (install orthanc-dicomweb)")
    # Another server on the port could otherwise answer our readiness probe.
    if _port_in_use(http_port):
        raise OrthancStartError(f"port {http_port} is already in use")

    storage_dir = storage_dir.resolve()
    config_path = render_config(storage_dir=storage_dir, http_port=http_port, username=username)
    # JSON-escaped because Orthanc substitutes the raw text before parsing the JSON.
    env = {PASSWORD_ENV: json.dumps(password)[1:-1]}
    return launch(
        config_path,
        http_port=http_port,
        storage_dir=storage_dir,
        username=username,
        password=password,
        env=env,
        log_dir=log_dir,
        timeout=timeout,
        die_with_parent=die_with_parent,
    )


def launch(
    config_path: Path,
    *,
    http_port: int,
    storage_dir: Path,
    username: str,
    password: str,
    env: dict[str, str],
    log_dir: Path | None = None,
    timeout: float = 30.0,
    die_with_parent: bool = True,
) -> OrthancProcess:
    """Start Orthanc on a written config (env: the variables its ${VAR}s name, on top
    of this process's environment) and wait until it answers with DICOMweb loaded."""
    log_dir = (log_dir or storage_dir / "logs").resolve()
    log_dir.mkdir(parents=True, exist_ok=True)
    binary = find_orthanc_binary()
    if binary is None:
        raise OrthancStartError("Orthanc binary not found (apt-get install orthanc)")
    stderr = (log_dir / "stderr.log").open("ab")
    try:
        process = subprocess.Popen(
            [binary, f"--logdir={log_dir}", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            env={**os.environ, **env},
            cwd=storage_dir,
            preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None,
        )
    except BaseException:
        stderr.close()
        raise

    orthanc = OrthancProcess(
        process=process,
        url=f"http://127.0.0.1:{http_port}",
        storage_dir=storage_dir,
        config_path=config_path,
        log_dir=log_dir,
        username=username,
        password=password,
        _stderr=stderr,
    )
    try:
        _wait_until_ready(orthanc, timeout)
    except BaseException:
        orthanc.stop()
        raise
    return orthanc


def _wait_until_ready(orthanc: OrthancProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_status = "no answer"
    with orthanc.session() as session:
        while True:
            code = orthanc.process.poll()
            if code is not None:
                raise OrthancStartError(
                    f"Orthanc exited with code {code} during start-up; log tail:\n"
                    f"{orthanc.log_tail()}"
                )
            try:
                response = session.get(f"{orthanc.url}/system", timeout=2)
                last_status = f"HTTP {response.status_code}"
                if response.status_code == 200:
                    break
            except requests.RequestException as exc:
                last_status = type(exc).__name__
            if time.monotonic() > deadline:
                raise OrthancStartError(
                    f"Orthanc not ready after {timeout:.0f} s ({last_status}); log tail:\n"
                    f"{orthanc.log_tail()}"
                )
            time.sleep(0.05)
        # A plugin that fails to load is only logged; the platform cannot work without DICOMweb.
        plugins = session.get(f"{orthanc.url}/plugins", timeout=5).json()
        if "dicom-web" not in plugins:
            raise OrthancStartError(
                f"DICOMweb plugin not loaded (plugins: {plugins}); log tail:\n{orthanc.log_tail()}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--storage",
        type=Path,
        default=Path("var/orthanc"),
        help="folder for the runtime config, index and DICOM files",
    )
    parser.add_argument("--port", type=int, default=8042)
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="Orthanc log folder (default: STORAGE/logs)"
    )
    parser.add_argument(
        "--pidfile",
        type=Path,
        default=None,
        help="write this launcher's pid; SIGTERM to it stops Orthanc cleanly",
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="start-up timeout, seconds")
    args = parser.parse_args(argv)

    password = os.environ.get("ORTHANC_PASSWORD", "")
    if not password:
        print(
            "ORTHANC_PASSWORD is not set: refusing to start Orthanc without credentials",
            file=sys.stderr,
        )
        return 2
    username = os.environ.get("ORTHANC_USERNAME") or DEFAULT_USERNAME

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    # Handlers go in before start-up so that a SIGTERM during start-up still stops Orthanc.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    try:
        orthanc = start_orthanc(
            storage_dir=args.storage,
            http_port=args.port,
            username=username,
            password=password,
            log_dir=args.log_dir,
            timeout=args.timeout,
        )
    except (OrthancStartError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    if args.pidfile is not None:
        args.pidfile.parent.mkdir(parents=True, exist_ok=True)
        args.pidfile.write_text(f"{os.getpid()}\n", encoding="utf-8")
    try:
        print(
            f"Orthanc {orthanc.url} (DICOMweb {orthanc.dicomweb_url}) user {username!r}, "
            f"storage {orthanc.storage_dir}, Orthanc pid {orthanc.pid}",
            flush=True,
        )
        while not stop_requested.wait(1.0):
            if not orthanc.is_running():
                print(
                    f"error: Orthanc exited unexpectedly; log tail:\n{orthanc.log_tail()}",
                    file=sys.stderr,
                )
                return 1
        return 0
    finally:
        orthanc.stop()
        if args.pidfile is not None:
            with contextlib.suppress(FileNotFoundError):
                args.pidfile.unlink()


if __name__ == "__main__":
    sys.exit(main())
