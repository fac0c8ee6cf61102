"""API list endpoints and the DICOMweb proxy under concurrent clients (wrk, loopback).

Starts its own temporary Orthanc, PostgreSQL database and gunicorn-served platform,
seeds the demo project (`manage.py seed_demo`) plus --studies studies with two series,
a job and a classification each, stores one synthetic CT series in Orthanc. The platform
runs as deployed: nginx from deploy/docker/nginx/default.conf.template in front of
gunicorn with the web image's settings (4 sync workers, deploy/docker/app.Dockerfile).
Then, per endpoint, it runs wrk three times and prints p50/p95/p99, requests/s and errors:

- clients: --clients connections, each a client that waits a think time drawn from
  --think-ms after every answer (a person paging through lists, a page polling job
  progress), as load tools such as locust model users. Target: no error and
  p95 < 100 ms on every list endpoint.
- baseline: one client back to back, whose p95 the clients' p95 is divided by
  (how much 50 clients slow each request down).
- capacity: the same connections back to back, no think time: the most requests/s
  the machine serves, and the latency when every client queues (≈ clients ÷ req/s).
  No target: it says how many clients the hardware carries.

Needs `wrk` (`make bench-tools`) and nginx (`make setup`), Debian's packages.

    .venv/bin/python bench/load/api_load.py [--clients 50] [--think-ms 500-1500]
        [--seconds 20] [--capacity-seconds 8] [--workers 4] [--no-nginx]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARGET_P95_MS = 100.0

SEED_SCRIPT = """
import json
import os
from accounts.models import Institution, User
from analysis.models import Job, SeriesLevels
from imaging.models import Series, Study
from projects.models import ResearchProject
from rest_framework.authtoken.models import Token
project = ResearchProject.objects.get(slug="sarcopenia-l3")
users = {u.username: u for u in User.objects.filter(username__in=["admin_nvh", "investigator_nvh"])}
sites = [Institution.objects.get(code=c) for c in ("NVH", "RMC")]
n = int(os.environ["BENCH_STUDIES"])
studies = Study.objects.bulk_create(
    Study(project=project, institution=sites[i % 2], study_instance_uid=f"2.25.9{i}",
          patient_pseudonym=f"P{i:05d}", modality="CT", description=f"study {i}")
    for i in range(n)
)
studies.append(Study.objects.create(
    project=project, institution=sites[0], study_instance_uid=os.environ["BENCH_STUDY_UID"],
    patient_pseudonym="PIXELS", modality="CT"))
series = Series.objects.bulk_create(
    Series(study=s, series_instance_uid=f"{s.study_instance_uid}.{k}", series_number=k,
           modality="CT", slice_count=200, rows=512, columns=512)
    for s in studies for k in (1, 2)
)
jobs = Job.objects.bulk_create(
    Job(project=project, institution=s.study.institution, series=s, job_type="classify_levels",
        state="succeeded", progress=1.0, created_by=users["investigator_nvh"])
    for s in series[::2]
)
SeriesLevels.objects.bulk_create(
    SeriesLevels(job=j, series=j.series, model_name="bench", model_version="1",
                 slice_levels=["L3"] * 200, ranges=[{"level": "L3", "first": 0, "last": 199}])
    for j in jobs
)
tokens = {name: Token.objects.get_or_create(user=u)[0].key for name, u in users.items()}
print(json.dumps({"project": project.pk, "tokens": tokens}))
"""


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


# The temporary services and gunicorn start-up are the proxy benchmark's.
proxy_bench = load_module(
    "proxy_throughput_bench", ROOT / "bench" / "ingest" / "proxy_throughput.py"
)
nginx = load_module("run_nginx", ROOT / "deploy" / "nginx" / "run_nginx.py")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--think-ms", type=think_range, default=(500, 1500),
        help="a client's pause after each answer, drawn uniformly from MIN-MAX ms",
    )  # fmt: skip
    parser.add_argument("--seconds", type=int, default=20, help="clients run, per endpoint")
    parser.add_argument(
        "--capacity-seconds", type=int, default=8, help="back-to-back run, per endpoint; 0: none"
    )
    parser.add_argument("--studies", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers, as deployed")
    parser.add_argument(
        "--worker-class", default="sync", choices=["sync", "gthread"], help="as deployed: sync"
    )
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads (gthread)")
    parser.add_argument("--no-nginx", action="store_true", help="clients talk to gunicorn directly")
    parser.add_argument("--debug", action="store_true", help="DEBUG=1 (as `make demo`)")
    return parser


def think_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    pair = (int(low), int(high or low))
    if not 0 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError("MIN-MAX with 0 <= MIN <= MAX")
    return pair


def endpoints(project: int, series: object) -> list[tuple[str, str, str]]:
    """(name, path, token user); list endpoints first, then the DICOMweb proxy."""
    study = f"/dicomweb/studies/{series.study_uid}"  # type: ignore[attr-defined]
    frame = f"{study}/series/{series.series_uid}/instances/{series.sop_uids[0]}/frames/1"  # type: ignore[attr-defined]
    return [
        ("projects", "/api/v1/projects/", "admin_nvh"),
        ("studies", f"/api/v1/studies/?project={project}", "admin_nvh"),
        ("series", f"/api/v1/series/?project={project}", "admin_nvh"),
        ("jobs", f"/api/v1/jobs/?project={project}", "admin_nvh"),
        ("series-levels", "/api/v1/series-levels/", "admin_nvh"),
        ("cohorts", "/api/v1/cohorts/", "admin_nvh"),
        ("memberships", f"/api/v1/memberships/?project={project}", "admin_nvh"),
        ("audit-events", "/api/v1/audit-events/", "admin_nvh"),
        ("qido series (proxy)", f"{study}/series", "investigator_nvh"),
        (
            "wado metadata (proxy)",
            f"{study}/series/{series.series_uid}/metadata",
            "investigator_nvh",
        ),  # type: ignore[attr-defined]
        ("wado frame (proxy)", frame, "investigator_nvh"),
    ]


def run_wrk(
    url: str, token: str, accept: str, clients: int, seconds: int, think_ms: tuple[int, int]
) -> dict[str, float]:
    """One wrk run; think_ms (0, 0) sends back to back."""
    command = [
        "wrk", "-t", str(min(2, clients)), "-c", str(clients),
        "-d", f"{seconds}s", "--timeout", "10s",
        "-H", f"Authorization: Token {token}", "-H", f"Accept: {accept}",
        "-s", str(HERE / "report.lua"), url,
    ]  # fmt: skip
    env = {
        **os.environ,
        "WRK_THINK_MIN_MS": str(think_ms[0]),
        "WRK_THINK_MAX_MS": str(think_ms[1]),
    }
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def error_count(result: dict[str, float]) -> int:
    return sum(int(result[k]) for k in ("connect", "read", "write", "timeout", "status"))


def accept_for(path: str) -> str:
    if path.endswith("/frames/1"):
        return 'multipart/related; type="application/octet-stream"'
    return "application/dicom+json" if path.startswith("/dicomweb/") else "application/json"


def main(args: argparse.Namespace) -> int:
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is needed: make bench-tools (Debian's packages)", file=sys.stderr)
            return 2
    runner = proxy_bench.load_runner()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="load-bench-")))
        orthanc = stack.enter_context(
            runner.start_orthanc(
                storage_dir=tmp / "orthanc", http_port=runner.free_port(),
                username="bench", password=proxy_bench.secrets.token_urlsafe(24),
            )
        )  # fmt: skip
        series = proxy_bench.write_series(tmp / "dicom", 20, 512)
        proxy_bench.store_series(orthanc, series)
        database_url = stack.enter_context(proxy_bench.temporary_database())
        env = proxy_bench.platform_env(orthanc, database_url)
        env["DEBUG"] = "1" if args.debug else "0"
        # Production settings on plain loopback HTTP (TLS is the proxy's job).
        env.update({"SECURE_SSL_REDIRECT": "0", "DEID_KEY": "bench-deid-key"})
        proxy_bench.manage(env, "migrate", "--noinput")
        proxy_bench.manage(env, "seed_demo")
        seeded = proxy_bench.manage(
            {**env, "BENCH_STUDIES": str(args.studies), "BENCH_STUDY_UID": series.study_uid},
            "shell", "-c", SEED_SCRIPT,
        )  # fmt: skip
        seed = json.loads(seeded.strip().splitlines()[-1])
        gunicorn_url, _pid = stack.enter_context(
            proxy_bench.gunicorn(
                env, runner.free_port(), args.workers, args.threads, args.worker_class
            )
        )
        url = gunicorn_url
        if not args.no_nginx:
            upstream = gunicorn_url.removeprefix("http://")
            route = nginx.ImageStoreRoute(orthanc.dicomweb_url, *orthanc.auth)
            front = nginx.nginx_front(
                upstream, runner.free_port(), tmp / "nginx", tmp / "static", route
            )
            url = stack.enter_context(front)
        print(
            f"data: demo project, {args.studies + 1} studies, {2 * (args.studies + 1)} series, "
            f"{args.studies + 1} jobs with levels; a 20-slice 512² CT in Orthanc"
        )
        think = f"{args.think_ms[0]}-{args.think_ms[1]} ms"
        workers = f"{args.workers} {args.worker_class} workers"
        if args.worker_class == "gthread":
            workers += f" x {args.threads} threads"
        front = "clients -> gunicorn" if args.no_nginx else "clients -> nginx (deploy template)"
        print(
            f"platform: {front} -> gunicorn {workers}, DEBUG={env['DEBUG']}, PostgreSQL, "
            "Orthanc on loopback"
        )
        print(
            f"clients: {args.clients} wrk connections, think time {think} after each answer, "
            f"{args.seconds} s per endpoint; capacity: the same connections back to back, "
            f"{args.capacity_seconds} s"
        )
        groups = ("1 client", f"{args.clients} clients", "capacity")
        print(f"\n{'':<24} {groups[0]:-^7} {groups[1]:-^46} {groups[2]:-^16}")
        print(
            f"{'endpoint':<24} {'p95 ms':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
            f"{'p99 ms':>7} {'errors':>6} {'p95 ×':>7} {'req/s':>7} {'p95 ms':>8}"
        )
        passed = True
        for name, path, user in endpoints(seed["project"], series):
            target = (f"{url}{path}", seed["tokens"][user], accept_for(path))
            # Untimed: every gunicorn worker finishes its lazy imports first.
            run_wrk(*target, args.workers, 3, (0, 0))
            alone = run_wrk(*target, 1, 5, (0, 0))  # the baseline: one client, no queue
            r = run_wrk(*target, args.clients, args.seconds, args.think_ms)
            errors = error_count(r)
            listing = path.startswith("/api/")
            ok = errors == 0 and (r["p95"] < TARGET_P95_MS or not listing)
            passed &= ok
            capacity = "-"
            if args.capacity_seconds:
                c = run_wrk(*target, args.clients, args.capacity_seconds, (0, 0))
                capacity = f"{c['requests'] / c['seconds']:>7.0f} {c['p95']:>8.1f}"
                if error_count(c):
                    capacity += f"  {error_count(c)} errors"
            verdict = "" if ok else "  MISSED"
            print(
                f"{name:<24} {alone['p95']:>7.1f} {r['requests'] / r['seconds']:>7.0f} "
                f"{r['p50']:>7.1f} {r['p95']:>7.1f} {r['p99']:>7.1f} {errors:>6} "
                f"{r['p95'] / alone['p95']:>7.2f} {capacity}{verdict}"
            )
        print(
            f"\ntarget: no error; p95 < {TARGET_P95_MS:.0f} ms on the list endpoints (/api/) "
            f"with {args.clients} clients; p95 × is their p95 over one client's (same run); "
            "capacity has no target"
        )
        print(f"hardware: {proxy_bench.hardware()}; Python {sys.version.split()[0]}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
