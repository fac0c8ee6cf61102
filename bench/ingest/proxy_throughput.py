"""WADO-RS throughput through the platform against direct Orthanc.

Starts its own temporary Orthanc, PostgreSQL database, gunicorn-served platform (DEBUG=1, a
viewer with a token) and the deployed nginx in front of both (deploy/docker/nginx, via
deploy/nginx/run_nginx.py), stores a synthetic CT series, then times, alternating the targets:
retrieve of the whole series, and a fetch of every frame one by one (sequentially, and with a few
parallel connections as a browser viewer does). Targets: `direct` (Orthanc), `edge` (as deployed:
nginx serves frames itself once the platform allowed the study, the rest through gunicorn) and
`proxy` (gunicorn alone, as `make demo` serves it). Prints absolute figures, the hardware and the
ratios to direct against the 0.85 target, which the deployed path (edge) must meet. Audit rows
of every request are checked at the end (the edge's log shipped first). Everything it starts is
stopped and removed.

    .venv/bin/python bench/ingest/proxy_throughput.py [--slices 300] [--size 512] [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pydicom
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ml_worker.synthetic import make_ct_volume, make_patient, write_ct_series  # noqa: E402

ADMIN_DB_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SERIES_ACCEPT = 'multipart/related; type="application/dicom"'
FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"'
CHUNK = 1 << 20
TARGET = 0.85
DEPLOYED = "edge"
WARMUP_ROUNDS = 2  # untimed: fill caches, boot lazy imports in every gunicorn worker

SETUP_SCRIPT = """
import os
from accounts.models import Institution, User
from imaging.models import Study
from projects.models import ProjectMembership, ResearchProject
from rest_framework.authtoken.models import Token
inst = Institution.objects.create(name="Bench Hospital", code="BENCH")
user = User.objects.create_user("bench_viewer", institution=inst)
project = ResearchProject.objects.create(name="Bench", slug="bench")
project.institutions.add(inst)
ProjectMembership.objects.create(project=project, user=user, role="viewer")
Study.objects.create(project=project, institution=inst,
                     study_instance_uid=os.environ["BENCH_STUDY_UID"], patient_pseudonym="BENCH-1")
print(Token.objects.create(user=user).key)
"""


@dataclass(frozen=True)
class SeriesInfo:
    study_uid: str
    series_uid: str
    sop_uids: list[str]
    paths: list[Path]

    @property
    def stored_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.paths)


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    session_factory: Callable[[], requests.Session]


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512, help="rows = columns")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per target")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument(
        "--parallel", type=int, default=4, help="connections for the parallel frame fetch"
    )
    parser.add_argument(
        "--only",
        choices=("series", "frames"),
        help="run only the series retrieve, or only the frame scenarios",
    )
    return parser


def load_runner() -> ModuleType:
    return load_module("platform_orthanc_runner", ROOT / "deploy" / "orthanc" / "run_orthanc.py")


def load_module(name: str, path: Path) -> ModuleType:
    """A script under deploy/, imported by path (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def nginx_version() -> str:
    answer = subprocess.run(["nginx", "-v"], capture_output=True, text=True, check=False)
    return answer.stderr.strip().rsplit("/", 1)[-1]


def write_series(out_dir: Path, slices: int, size: int) -> SeriesInfo:
    volume = make_ct_volume(n_slices=slices, rows=size, cols=size)
    paths = write_ct_series(volume, out_dir, patient=make_patient(0))
    heads = [pydicom.dcmread(path, stop_before_pixels=True) for path in paths]
    return SeriesInfo(
        heads[0].StudyInstanceUID,
        heads[0].SeriesInstanceUID,
        [h.SOPInstanceUID for h in heads],
        paths,
    )


def store_series(orthanc: Any, series: SeriesInfo) -> None:
    # Orthanc's REST upload: as fast as STOW-RS here, and this is only the set-up.
    with orthanc.session() as session:
        for path in series.paths:
            url = f"{orthanc.url}/instances"
            session.post(url, data=path.read_bytes(), timeout=60).raise_for_status()


@contextmanager
def temporary_database() -> Iterator[str]:
    name = f"proxy_bench_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN_DB_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def platform_env(orthanc: Any, database_url: str) -> dict[str, str]:
    username, password = orthanc.auth
    return {
        **os.environ,
        "DEBUG": "1",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "DICOMWEB_URL": orthanc.dicomweb_url,
        "DICOMWEB_USERNAME": username,
        "DICOMWEB_PASSWORD": password,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr[-2000:]}")
    return result.stdout


@contextmanager
def gunicorn(
    env: dict[str, str], port: int, workers: int, threads: int, worker_class: str = "gthread"
) -> Iterator[tuple[str, int]]:
    """The platform under gunicorn; yields its URL and the master's pid."""
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--pythonpath", "platform", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", worker_class,
        "--timeout", "120", "--log-level", "warning",
    ]  # fmt: skip
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, process)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)  # the master stops its workers
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        try:
            requests.get(f"{url}/healthz", timeout=10)
            return
        except requests.RequestException:  # not listening yet, or a worker still booting
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in time")


def fetch(session: requests.Session, url: str, accept: str) -> int:
    """GET, reading the body in chunks as a client would; returns the byte count."""
    with session.get(url, headers={"Accept": accept}, stream=True, timeout=120) as response:
        response.raise_for_status()
        return sum(len(chunk) for chunk in response.iter_content(CHUNK))


def retrieve_series(target: Target, series: SeriesInfo, parallel: int) -> int:
    url = f"{target.base_url}/studies/{series.study_uid}/series/{series.series_uid}"
    with target.session_factory() as session:
        return fetch(session, url, SERIES_ACCEPT)


def frame_urls(target: Target, series: SeriesInfo) -> list[str]:
    base = f"{target.base_url}/studies/{series.study_uid}/series/{series.series_uid}"
    return [f"{base}/instances/{sop}/frames/1" for sop in series.sop_uids]


def frames_sequential(target: Target, series: SeriesInfo, parallel: int) -> int:
    with target.session_factory() as session:
        return sum(fetch(session, url, FRAMES_ACCEPT) for url in frame_urls(target, series))


def frames_parallel(target: Target, series: SeriesInfo, parallel: int) -> int:
    local = threading.local()

    def one(url: str) -> int:
        if not hasattr(local, "session"):
            local.session = target.session_factory()
        return fetch(local.session, url, FRAMES_ACCEPT)

    with ThreadPoolExecutor(parallel) as pool:
        return sum(pool.map(one, frame_urls(target, series)))


@dataclass(frozen=True)
class Run:
    seconds: float
    received: int
    platform_cpu: float  # CPU seconds of the gunicorn processes during the run


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds of a process and its children (gunicorn's workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if stat.parent.name == str(root_pid) or fields[1] == str(root_pid):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure(
    targets: list[Target], series: SeriesInfo, args: argparse.Namespace, platform_pids: list[int]
) -> dict[str, dict[str, list[Run]]]:
    """Per scenario and target, each timed run. The targets alternate within each
    repeat so that drift and other load affect both alike."""
    scenarios = {
        "retrieve series": retrieve_series,
        "frames, one by one": frames_sequential,
        f"frames, {args.parallel} parallel": frames_parallel,
    }
    if args.only == "series":
        scenarios = {"retrieve series": retrieve_series}
    elif args.only == "frames":
        del scenarios["retrieve series"]
    for target in targets:  # parallel requests reach, and warm, every gunicorn worker
        frames_parallel(target, series, args.parallel)
    results: dict[str, dict[str, list[Run]]] = {}
    for scenario, run in scenarios.items():
        results[scenario] = {target.name: [] for target in targets}
        for repeat in range(-WARMUP_ROUNDS, args.repeats):
            for target in targets:
                cpu = sum(map(cpu_seconds, platform_pids))
                start = time.perf_counter()
                received = run(target, series, args.parallel)
                elapsed = time.perf_counter() - start
                if repeat >= 0:
                    used = sum(map(cpu_seconds, platform_pids)) - cpu
                    results[scenario][target.name].append(Run(elapsed, received, used))
    return results


def hardware() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average {load} (other work shares the cores)"


def audit_totals(database_url: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum((detail->>'bytes')::bigint), 0) "
            "FROM audit_auditevent WHERE action = 'image_accessed'"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def report(results: dict[str, dict[str, list[Run]]]) -> bool:
    """One line per scenario and target; the ratio is proxy/direct throughput at
    the median run (the best runs' ratio beside it, less sensitive to other load).
    "cpu s": what the platform's processes (gunicorn, and nginx for the edge)
    spent per run, independent of load. The target applies to the deployed path."""
    passed = True
    header = (
        f"{'scenario':<22} {'target':<7} {'median s':>9} {'best s':>7} {'MB/s':>6} {'cpu s':>6}"
    )
    print(f"\n{header}  ratio")
    for scenario, by_target in results.items():
        median = {
            name: statistics.median(r.seconds for r in runs) for name, runs in by_target.items()
        }
        best = {name: min(r.seconds for r in runs) for name, runs in by_target.items()}
        size = by_target["direct"][0].received
        for name, runs in by_target.items():
            cpu = statistics.median(r.platform_cpu for r in runs)
            line = f"{scenario:<22} {name:<7} {median[name]:>9.3f} {best[name]:>7.3f}"
            line += f" {size / median[name] / 1e6:>6.0f} {cpu:>6.2f}"
            if name != "direct":
                ratio = median["direct"] / median[name]
                verdict = "ok" if ratio >= TARGET else "BELOW"
                if name == DEPLOYED:
                    passed &= ratio >= TARGET
                else:
                    verdict = "(reference)"
                line += f"  {ratio:.2f} {verdict} (best runs {best['direct'] / best[name]:.2f})"
            else:
                line += f"  ({size / 1e6:.1f} MB per run)"
            print(line)
    print(f"target: {DEPLOYED}/direct >= {TARGET} (edge: as deployed; proxy: gunicorn alone)")
    return passed


def main(args: argparse.Namespace) -> int:
    runner = load_runner()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="proxy-bench-")))
        orthanc = stack.enter_context(
            runner.start_orthanc(
                storage_dir=tmp / "orthanc",
                http_port=runner.free_port(),
                username="bench",
                password=secrets.token_urlsafe(24),
            )
        )
        started = time.perf_counter()
        series = write_series(tmp / "dicom", args.slices, args.size)
        store_series(orthanc, series)
        print(
            f"series: {args.slices} slices {args.size}x{args.size} int16, "
            f"{series.stored_bytes / 1e6:.1f} MB stored "
            f"(written and stored in {time.perf_counter() - started:.1f} s)"
        )
        database_url = stack.enter_context(temporary_database())
        env = platform_env(orthanc, database_url)
        manage(env, "migrate", "--noinput")
        token = manage({**env, "BENCH_STUDY_UID": series.study_uid}, "shell", "-c", SETUP_SCRIPT)
        token = token.strip().splitlines()[-1]
        platform_url, platform_pid = stack.enter_context(
            gunicorn(env, runner.free_port(), args.workers, args.threads)
        )

        def direct_session() -> requests.Session:
            return orthanc.session()

        def proxy_session() -> requests.Session:
            session = requests.Session()
            session.headers["Authorization"] = f"Token {token}"
            return session

        nginx = load_module("platform_nginx_runner", ROOT / "deploy" / "nginx" / "run_nginx.py")
        route = nginx.ImageStoreRoute(orthanc.dicomweb_url, *orthanc.auth)
        edge_dir = tmp / "nginx"
        front = nginx.nginx_front(
            platform_url.removeprefix("http://"), runner.free_port(), edge_dir, tmp, route
        )
        edge_url = stack.enter_context(front)
        nginx_pid = int((edge_dir / "nginx.pid").read_text())

        targets = [
            Target("direct", orthanc.dicomweb_url, direct_session),
            Target("edge", f"{edge_url}/dicomweb", proxy_session),
            Target("proxy", f"{platform_url}/dicomweb", proxy_session),
        ]
        results = measure(targets, series, args, [platform_pid, nginx_pid])
        print(f"hardware: {hardware()}; Python {sys.version.split()[0]}")
        print(
            f"platform: gunicorn {args.workers} workers x {args.threads} threads (gthread), "
            f"DEBUG=1, PostgreSQL; nginx {nginx_version()} (1 worker) in front for the edge; "
            f"Orthanc on loopback; {args.repeats} timed runs each"
        )
        passed = report(results)
        manage(env, "ship_image_access_log", str(edge_dir / "image-access"))
        events, audited = audit_totals(database_url)
        print(f"audit: {events} image_accessed events, {audited / 1e6:.1f} MB recorded as sent")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
