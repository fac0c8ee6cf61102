"""Upload throughput: the platform's POST /api/v1/uploads/ against STOW-RS straight
into the same Orthanc, on the same synthetic CT series, in the same run.

Both sides send the same multipart/related (STOW-style) bodies, as a script, a
DICOMweb client or the browser page does; the platform's take `?project=` in the
URL. The page's own pattern: `--files-per-request 25 --parallel 2`. `--platform-body
form` posts multipart/form-data instead (what `curl -F` sends).

Starts everything it needs and removes it afterwards: a temporary Orthanc, a
temporary PostgreSQL database, the platform (gunicorn or runserver) on a free
loopback port. Request bodies are built before the clock starts, so both sides
time the servers and the transfer, not this script's encoding. Each repeat
uploads the same series again after it was deleted from Orthanc and the index.

    .venv/bin/python bench/ingest/upload_throughput.py              # ratio, target >= 0.8
    .venv/bin/python bench/ingest/upload_throughput.py --profile    # where the time goes
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import ctypes
import importlib.util
import io
import json
import os
import pstats
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import requests
from urllib3 import encode_multipart_formdata

ROOT = Path(__file__).resolve().parents[2]
RUNNER_PATH = ROOT / "deploy" / "orthanc" / "run_orthanc.py"
TARGET_RATIO = 0.8
_PR_SET_PDEATHSIG = 1

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # ml_worker, for the synthetic series

SEED_SCRIPT = """
import json
from accounts.models import Institution, User
from projects.models import ProjectMembership, ResearchProject
from rest_framework.authtoken.models import Token
inst = Institution.objects.create(name="Bench Hospital", code="BENCH")
project = ResearchProject.objects.create(name="Upload bench", slug="upload-bench")
project.institutions.add(inst)
user = User.objects.create_user("bench_investigator", institution=inst)
ProjectMembership.objects.create(project=project, user=user, role="investigator")
token = Token.objects.create(user=user).key
print("BENCH_SEED " + json.dumps({"project": project.pk, "user": user.pk, "token": token}))
"""
# Raw SQL in the benchmark's own database: independent of models that other apps
# hang off Series (CASCADE empties those too, and nothing else references them here).
CLEAR_INDEX_SQL = "TRUNCATE imaging_series, imaging_study CASCADE"


@dataclass(frozen=True)
class Measurement:
    seconds: float
    total_bytes: int
    files: int

    @property
    def mb_per_s(self) -> float:
        return self.total_bytes / 1e6 / self.seconds

    @property
    def slices_per_s(self) -> float:
        return self.files / self.seconds


@dataclass(frozen=True)
class Run:
    """One timed upload and the CPU seconds the servers spent on it: CPU is far
    less sensitive than wall time to what else runs on a shared machine."""

    seconds: float
    orthanc_cpu: float
    platform_cpu: float = 0.0


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


@dataclass(frozen=True)
class Body:
    """One prebuilt HTTP request body."""

    data: bytes
    content_type: str
    files: int


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512, help="rows and columns")
    parser.add_argument(
        "--files-per-request", type=int, default=50, help="files per STOW-RS / upload request"
    )
    parser.add_argument(
        "--parallel", type=int, default=1, help="requests in flight at once (both sides)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--warmup", type=int, default=1, help="uncounted rounds first (fresh Orthanc, workers)"
    )
    parser.add_argument("--server", choices=("gunicorn", "runserver"), default="gunicorn")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--postgres", default="postgres://postgres@127.0.0.1:5432", help="server for the temp DB"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of timing over HTTP, cProfile the upload view in-process",
    )
    parser.add_argument("--profile-top", type=int, default=35, help="rows of the profile")
    parser.add_argument(
        "--platform-body",
        choices=("related", "form"),
        default="related",
        help="upload body the platform gets: multipart/related (STOW-style) or form-data",
    )
    return parser


def main(args: argparse.Namespace) -> None:
    print(f"hardware: {_cpu_model()}, {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="upload-bench-")))
        files = _write_series(tmp / "series", args.slices, args.size)
        total = sum(len(data) for _, data in files)
        print(f"series: {len(files)} slices {args.size}x{args.size}, {total / 1e6:.1f} MB")
        orthanc = _start_orthanc(tmp / "orthanc")
        stack.callback(orthanc.stop)
        database = stack.enter_context(_temporary_database(args.postgres))
        env = _platform_env(tmp, database, orthanc)
        _manage(env, "migrate", "--noinput")
        seed = _seed(env)
        if args.profile:
            _profile(env, seed, files, args, orthanc)
            return
        server = stack.enter_context(_platform_server(env, args))
        _compare(files, orthanc, env, seed, server, args)


# --- data -------------------------------------------------------------------


def _write_series(out: Path, slices: int, size: int) -> list[tuple[str, bytes]]:
    from ml_worker.synthetic import make_ct_volume, make_patient, make_study, write_ct_series

    patient = make_patient(0)
    volume = make_ct_volume(n_slices=slices, rows=size, cols=size, slice_thickness_mm=1.0)
    paths = write_ct_series(
        volume, out, patient=patient, study=make_study(patient), pixel_representation=1
    )
    return [(path.name, path.read_bytes()) for path in paths]


def _chunks(files: list[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    for start in range(0, len(files), size):
        yield files[start : start + size]


def _stow_bodies(files: list[tuple[str, bytes]], per_request: int) -> list[Body]:
    """multipart/related bodies, as a DICOMweb client sends them."""
    bodies = []
    for chunk in _chunks(files, per_request):
        boundary = secrets.token_hex(16)
        parts = [
            b"--%s\r\nContent-Type: application/dicom\r\n\r\n%s\r\n" % (boundary.encode(), data)
            for _, data in chunk
        ]
        data = b"".join(parts) + b"--%s--\r\n" % boundary.encode()
        content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
        bodies.append(Body(data, content_type, len(chunk)))
    return bodies


def _upload_bodies(files: list[tuple[str, bytes]], per_request: int, project: int) -> list[Body]:
    """multipart/form-data bodies, as form clients (`curl -F`) post them to the platform."""
    bodies = []
    for chunk in _chunks(files, per_request):
        fields: list[tuple[str, Any]] = [("project", str(project))]
        fields += [("files", (name, data, "application/dicom")) for name, data in chunk]
        data, content_type = encode_multipart_formdata(fields)
        bodies.append(Body(data, content_type, len(chunk)))
    return bodies


# --- services ---------------------------------------------------------------


def _load_runner() -> ModuleType:
    """deploy/ is not a package: import the Orthanc launcher by path (as the tests do)."""
    name = "platform_orthanc_runner"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, RUNNER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses look the module up
    spec.loader.exec_module(module)
    return module


def _start_orthanc(root: Path) -> Any:
    runner = _load_runner()
    return runner.start_orthanc(
        storage_dir=root,
        http_port=runner.free_port(),
        username=f"bench-{secrets.token_hex(4)}",
        password=secrets.token_urlsafe(24),
        log_dir=root / "logs",
    )


@contextlib.contextmanager
def _temporary_database(server: str) -> Iterator[str]:
    import psycopg

    name = f"upload_bench_{secrets.token_hex(4)}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _platform_env(tmp: Path, database: str, orthanc: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DEBUG="1",
        SECRET_KEY=secrets.token_urlsafe(32),
        DATABASE_URL=database,
        REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        DICOMWEB_URL=orthanc.dicomweb_url,
        DICOMWEB_USERNAME=orthanc.username,
        DICOMWEB_PASSWORD=orthanc.password,
        VAR_DIR=str(tmp / "var"),
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env


def _manage(env: dict[str, str], *argv: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {argv[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _seed(env: dict[str, str]) -> dict[str, Any]:
    out = _manage(env, "shell", "-c", SEED_SCRIPT)
    line = next(line for line in out.splitlines() if line.startswith("BENCH_SEED "))
    return json.loads(line.removeprefix("BENCH_SEED "))


def _die_with_parent() -> None:
    # In the child before exec: a killed benchmark must not leave a server behind.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def _platform_server(env: dict[str, str], args: argparse.Namespace) -> Iterator[Server]:
    runner = _load_runner()
    port = runner.free_port()
    if args.server == "gunicorn":
        command = [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi:application",
            f"--pythonpath={ROOT / 'platform'},{ROOT}",
            f"--workers={args.workers}",
            f"--bind=127.0.0.1:{port}",
            "--timeout=600",
            "--log-level=warning",
        ]
    else:
        command = [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload"]
        command.append(f"127.0.0.1:{port}")
    log = open(Path(env["VAR_DIR"]).parent / "server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=log, stderr=log, preexec_fn=_die_with_parent
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/healthz", process)
        yield Server(url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"platform server exited with code {process.returncode}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError("platform server did not become ready")


def _clear_orthanc(orthanc: Any) -> None:
    with orthanc.session() as session:
        for study in session.get(f"{orthanc.url}/studies", timeout=60).json():
            session.delete(f"{orthanc.url}/studies/{study}", timeout=60).raise_for_status()


def _clear_index(env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as connection:
        connection.execute(CLEAR_INDEX_SQL)


def _cpu_seconds(root_pid: int) -> float:
    """User + system CPU of a process and its live descendants (gunicorn workers)."""
    ticks, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            pending += [int(child) for child in children]
    return ticks / os.sysconf("SC_CLK_TCK")


def _orthanc_count(orthanc: Any) -> int:
    with orthanc.session() as session:
        return len(session.get(f"{orthanc.url}/instances", timeout=60).json())


# --- measurement ------------------------------------------------------------


def _send_all(
    bodies: list[Body], send: Callable[[requests.Session, Body], requests.Response], parallel: int
) -> tuple[float, list[requests.Response]]:
    """Send every body, `parallel` at a time; seconds until the last answer is back."""
    local = threading.local()

    def one(body: Body) -> requests.Response:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return send(local.session, body)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        started = time.perf_counter()
        responses = list(pool.map(one, bodies))
        return time.perf_counter() - started, responses


def _time_direct(bodies: list[Body], orthanc: Any, parallel: int) -> Run:
    url = f"{orthanc.dicomweb_url}/studies"
    cpu = _cpu_seconds(orthanc.pid)

    def send(session: requests.Session, body: Body) -> requests.Response:
        headers = {"Content-Type": body.content_type, "Accept": "application/dicom+json"}
        return session.post(url, data=body.data, headers=headers, auth=orthanc.auth, timeout=600)

    seconds, responses = _send_all(bodies, send, parallel)
    for response in responses:
        response.raise_for_status()
        if response.json().get("00081198", {}).get("Value"):  # FailedSOPSequence
            raise RuntimeError("Orthanc refused instances in the direct STOW-RS")
    return Run(seconds, _cpu_seconds(orthanc.pid) - cpu)


def _platform_bodies(
    files: list[tuple[str, bytes]], args: argparse.Namespace, project: int
) -> tuple[str, list[Body]]:
    """The upload path and the bodies the platform gets (see --platform-body)."""
    if args.platform_body == "form":
        return "/api/v1/uploads/", _upload_bodies(files, args.files_per_request, project)
    return f"/api/v1/uploads/?project={project}", _stow_bodies(files, args.files_per_request)


def _time_platform(
    bodies: list[Body], server: Server, orthanc: Any, token: str, parallel: int, path: str
) -> Run:
    url = f"{server.url}{path}"
    cpu = (_cpu_seconds(orthanc.pid), _cpu_seconds(server.pid))

    def send(session: requests.Session, body: Body) -> requests.Response:
        headers = {"Content-Type": body.content_type, "Authorization": f"Token {token}"}
        return session.post(url, data=body.data, headers=headers, timeout=600)

    seconds, responses = _send_all(bodies, send, parallel)
    for body, response in zip(bodies, responses, strict=True):
        accepted = response.json().get("counts", {}).get("accepted") if response.ok else None
        if accepted != body.files:
            raise RuntimeError(f"upload not fully accepted: HTTP {response.status_code}")
    orthanc_cpu = _cpu_seconds(orthanc.pid) - cpu[0]
    return Run(seconds, orthanc_cpu, _cpu_seconds(server.pid) - cpu[1])


def _compare(
    files: list[tuple[str, bytes]],
    orthanc: Any,
    env: dict[str, str],
    seed: dict[str, Any],
    server: Server,
    args: argparse.Namespace,
) -> None:
    stow = _stow_bodies(files, args.files_per_request)
    path, upload = _platform_bodies(files, args, seed["project"])
    direct: list[Run] = []
    platform: list[Run] = []
    for run in range(1 - args.warmup, args.repeats + 1):
        # Alternating keeps slow drifts in machine load from favouring one side.
        one_direct = _time_direct(stow, orthanc, args.parallel)
        _clear_orthanc(orthanc)
        one_platform = _time_platform(upload, server, orthanc, seed["token"], args.parallel, path)
        if (count := _orthanc_count(orthanc)) != len(files):
            raise RuntimeError(f"Orthanc holds {count} instances after the upload")
        _clear_orthanc(orthanc)
        _clear_index(env)
        label = f"run {run}" if run > 0 else "warm-up"
        print(
            f"{label}: direct {one_direct.seconds:.2f} s, platform {one_platform.seconds:.2f} s,"
            f" ratio {one_direct.seconds / one_platform.seconds:.2f}"
        )
        if run > 0:
            direct.append(one_direct)
            platform.append(one_platform)
    _report(direct, platform, files, args)


def _report(
    direct: list[Run], platform: list[Run], files: list[tuple[str, bytes]], args: argparse.Namespace
) -> None:
    total, count = sum(len(data) for _, data in files), len(files)
    server = f"{args.server}" + (f", {args.workers} workers" if args.server == "gunicorn" else "")
    print(
        f"\n{count} slices, {total / 1e6:.1f} MB, {args.files_per_request} files per request, "
        f"{args.parallel} request(s) in flight, platform on {server}, "
        f"{args.platform_body} bodies; medians of {len(direct)}"
    )
    header = f"{'':18}{'s':>7}{'MB/s':>8}{'slices/s':>10}{'CPU s: Orthanc':>16}{'platform':>10}"
    print(header + "   runs (s)")
    for label, runs in (("direct STOW-RS", direct), ("platform upload", platform)):
        m = Measurement(statistics.median(r.seconds for r in runs), total, count)
        orthanc_cpu = statistics.median(r.orthanc_cpu for r in runs)
        platform_cpu = statistics.median(r.platform_cpu for r in runs)
        listed = " ".join(f"{r.seconds:.2f}" for r in runs)
        print(
            f"{label:18}{m.seconds:>7.2f}{m.mb_per_s:>8.1f}{m.slices_per_s:>10.1f}"
            f"{orthanc_cpu:>16.2f}{platform_cpu:>10.2f}   {listed}"
        )
    ratio = statistics.median(r.seconds for r in direct) / statistics.median(
        r.seconds for r in platform
    )
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(
        f"ratio platform/direct throughput: {ratio:.2f} "
        f"({verdict} the target of at least {TARGET_RATIO})"
    )


# --- profile ----------------------------------------------------------------


def _profile(
    env: dict[str, str],
    seed: dict[str, Any],
    files: list[tuple[str, bytes]],
    args: argparse.Namespace,
    orthanc: Any,
) -> None:
    """Run the upload view in this process (Django test client: multipart parsing,
    auth, upload_ingest) once to warm up, then once under cProfile. cProfile sees
    only this thread; work handed to other threads shows as waiting."""
    client = _django_client(env)
    path, bodies = _platform_bodies(files, args, seed["project"])
    headers = {"HTTP_AUTHORIZATION": f"Token {seed['token']}"}

    def upload() -> None:
        for body in bodies:
            response = client.post(path, data=body.data, content_type=body.content_type, **headers)
            if response.status_code != 201:
                raise RuntimeError(f"upload failed: HTTP {response.status_code}")

    def reset() -> None:
        _clear_orthanc(orthanc)
        _clear_index(env)

    for _ in range(2):
        started, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
        upload()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        own = time.thread_time() - own
        reset()
        print(
            f"in-process upload without profiler: {seconds:.2f} s, CPU {cpu:.2f} s "
            f"({1000 * cpu / len(files):.1f} ms per slice, this process, all threads; "
            f"{1000 * own / len(files):.1f} ms in the request thread)"
        )
    profiler = cProfile.Profile()
    profiler.runcall(upload)
    reset()
    for sort in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(sort).print_stats(args.profile_top)
        print(f"\n=== sorted by {sort} ===")
        print(text.getvalue().split("\n", 6)[-1])


def _django_client(env: dict[str, str]) -> Any:
    for key in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "VAR_DIR", "LOG_LEVEL"):
        os.environ[key] = env[key]
    for key in ("DICOMWEB_URL", "DICOMWEB_USERNAME", "DICOMWEB_PASSWORD"):
        os.environ[key] = env[key]
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(ROOT / "platform"))
    import django

    django.setup()
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    main(get_args_parser().parse_args())
