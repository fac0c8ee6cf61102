"""API list endpoints and the DICOMweb proxy under concurrent clients (wrk, loopback).

Starts its own temporary Orthanc, PostgreSQL database and gunicorn-served platform,
seeds the demo project (`manage.py seed_demo`) plus --studies studies with two series,
a job and a classification each, stores one synthetic CT series in Orthanc, then runs
wrk with --clients connections per endpoint and prints p50/p95/p99, requests/s and
errors. Target: no error and p95 < 100 ms on every list endpoint. Needs `wrk`
(Debian: apt-get install wrk).

    .venv/bin/python bench/load/api_load.py [--clients 50] [--seconds 15] [--workers 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
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


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections")
    parser.add_argument("--seconds", type=int, default=15, help="per endpoint")
    parser.add_argument("--studies", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers, as deployed")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--debug", action="store_true", help="DEBUG=1 (as `make demo`)")
    return parser


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


def run_wrk(url: str, token: str, args: argparse.Namespace, accept: str) -> dict[str, float]:
    command = [
        "wrk", "-t", str(min(2, args.clients)), "-c", str(args.clients),
        "-d", f"{args.seconds}s", "--timeout", "10s",
        "-H", f"Authorization: Token {token}", "-H", f"Accept: {accept}",
        "-s", str(HERE / "report.lua"), url,
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def accept_for(path: str) -> str:
    if path.endswith("/frames/1"):
        return 'multipart/related; type="application/octet-stream"'
    return "application/dicom+json" if path.startswith("/dicomweb/") else "application/json"


def main(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
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
        url, _pid = stack.enter_context(
            proxy_bench.gunicorn(env, runner.free_port(), args.workers, args.threads)
        )
        print(
            f"data: demo project, {args.studies + 1} studies, {2 * (args.studies + 1)} series, "
            f"{args.studies + 1} jobs with levels; a 20-slice 512² CT in Orthanc"
        )
        print(
            f"platform: gunicorn {args.workers} workers x {args.threads} threads (gthread), "
            f"DEBUG={env['DEBUG']}, PostgreSQL, Orthanc on loopback; wrk {args.clients} "
            f"connections, {args.seconds} s per endpoint"
        )
        print(f"\n{'endpoint':<24} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} errors")
        passed = True
        for name, path, user in endpoints(seed["project"], series):
            token = seed["tokens"][user]
            # Untimed: every gunicorn worker finishes its lazy imports first.
            warm_up = argparse.Namespace(clients=args.workers, seconds=3)
            run_wrk(f"{url}{path}", token, warm_up, accept_for(path))
            r = run_wrk(f"{url}{path}", token, args, accept_for(path))
            errors = sum(int(r[k]) for k in ("connect", "read", "write", "timeout", "status"))
            listing = path.startswith("/api/")
            ok = errors == 0 and (r["p95"] < TARGET_P95_MS or not listing)
            passed &= ok
            verdict = "" if ok else "  MISSED"
            print(
                f"{name:<24} {r['requests'] / r['seconds']:>7.0f} {r['p50']:>7.1f} "
                f"{r['p95']:>7.1f} {r['p99']:>7.1f} {errors:>6}{verdict}"
            )
        print(f"\ntarget: no error; p95 < {TARGET_P95_MS:.0f} ms on the list endpoints (/api/)")
        print(f"hardware: {proxy_bench.hardware()}; Python {sys.version.split()[0]}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
