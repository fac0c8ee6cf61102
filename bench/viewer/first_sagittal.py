"""Time to the first sagittal image in the browser viewer, against downloading
the same pixel data directly with WADO-RS.

Starts its own temporary Orthanc, PostgreSQL database and gunicorn-served
platform (as bench/ingest/proxy_throughput.py), stores a synthetic CT series
(500 slices of 512x512 by default), then:

- direct: WADO-RS retrieve of the whole series straight from Orthanc (the
  bytes the viewer would need at full resolution), median of --repeats;
- viewer: Debian chromium (playwright-core, bench/viewer/first_sagittal.mjs)
  opens /projects/<id>/series/<id>/viewer/ as a viewer-role member; the page
  records when the first sagittal image is drawn (after the coarse first pass)
  and when every slice is in, measured from navigation start.

Prints absolute figures, the hardware and the ratio first-sagittal / direct
download, against the target of a first sagittal image within 2 s.

    .venv/bin/python bench/viewer/first_sagittal.py [--slices 500] [--size 512] [--repeats 3]

It also prints the page's performance marks (labels, image chunk, cornerstone set-up,
viewports, volume, first pass) of the last run; --requests lists that run's requests up to the
first image, and CPU_PROFILE=file.cpuprofile saves a V8 CPU profile of it (open in DevTools).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType

import pydicom
import requests

ROOT = Path(__file__).resolve().parents[2]
TARGET_S = 2.0
SERIES_ACCEPT = 'multipart/related; type="application/dicom"'
PASSWORD = "bench-viewer-password-0123"  # a throw-away user in a throw-away database

SETUP_SCRIPT = """
import os
from accounts.models import Institution, User
from imaging.models import Series, Study
from projects.models import ProjectMembership, ResearchProject
inst = Institution.objects.create(name="Bench Hospital", code="BENCH")
user = User.objects.create_user(
    "bench_viewer", password=os.environ["BENCH_PASSWORD"], institution=inst)
project = ResearchProject.objects.create(name="Bench", slug="bench")
project.institutions.add(inst)
ProjectMembership.objects.create(project=project, user=user, role="viewer")
study = Study.objects.create(
    project=project, institution=inst,
    study_instance_uid=os.environ["BENCH_STUDY_UID"], patient_pseudonym="BENCH-1")
size = int(os.environ["BENCH_SIZE"])
series = Series.objects.create(study=study, series_instance_uid=os.environ["BENCH_SERIES_UID"],
                               modality="CT", slice_count=int(os.environ["BENCH_SLICES"]),
                               rows=size, columns=size, orientation=[1, 0, 0, 0, 1, 0])
if os.environ.get("BENCH_SLICES_FILE"):  # a classified series: the result names every slice
    import json
    from analysis.models import Job, SeriesLevels
    known = json.load(open(os.environ["BENCH_SLICES_FILE"]))
    job = Job.objects.create(project=project, institution=inst, series=series,
                             job_type="classify_levels", state="succeeded", progress=1)
    n = len(known["sops"])
    SeriesLevels.objects.create(
        job=job, series=series, model_name="bench", model_version="1",
        slice_sop_instance_uids=known["sops"], slice_positions_mm=known["positions"],
        slice_levels=["L3"] * n, slice_confidence=[1.0] * n,
        ranges=[{"level": "L3", "first": 0, "last": n - 1, "mid": n // 2, "confidence": 1.0}])
print(f"/projects/{project.pk}/series/{series.pk}/viewer/")
"""


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=500)
    parser.add_argument("--size", type=int, default=512, help="rows = columns")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument(
        "--requests", action="store_true", help="list the last run's requests up to the first image"
    )
    parser.add_argument(
        "--unclassified",
        action="store_true",
        help="no classification result: the viewer reads the store's series metadata first",
    )
    return parser


def known_slices(paths: list[Path], out: Path) -> Path:
    """SOP instance UIDs and z positions, superior first, as a classification
    result stores them (the viewer then needs one instance's metadata only)."""
    heads = [pydicom.dcmread(path, stop_before_pixels=True) for path in paths]
    heads.sort(key=lambda head: -float(head.ImagePositionPatient[2]))
    out.write_text(
        json.dumps(
            {
                "sops": [str(head.SOPInstanceUID) for head in heads],
                "positions": [float(head.ImagePositionPatient[2]) for head in heads],
            }
        )
    )
    return out


def load_proxy_bench() -> ModuleType:
    """bench/ingest/proxy_throughput.py: its Orthanc, database and gunicorn helpers."""
    path = ROOT / "bench" / "ingest" / "proxy_throughput.py"
    spec = importlib.util.spec_from_file_location("bench_proxy_throughput", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def direct_download(orthanc: object, study_uid: str, series_uid: str) -> tuple[float, int]:
    """Seconds and bytes of a WADO-RS series retrieve straight from Orthanc."""
    url = f"{orthanc.dicomweb_url}/studies/{study_uid}/series/{series_uid}"  # type: ignore[attr-defined]
    with orthanc.session() as session:  # type: ignore[attr-defined]
        start = time.perf_counter()
        with session.get(url, headers={"Accept": SERIES_ACCEPT}, stream=True, timeout=300) as r:
            r.raise_for_status()
            size = sum(len(chunk) for chunk in r.iter_content(1 << 20))
        return time.perf_counter() - start, size


def run_viewer(base_url: str, viewer_path: str, repeats: int) -> list[dict[str, object]]:
    env = {
        **os.environ,
        "BASE_URL": base_url,
        "USERNAME": "bench_viewer",
        "PASSWORD": PASSWORD,
        "VIEWER_PATH": viewer_path,
        "REPEATS": str(repeats),
    }
    result = subprocess.run(
        ["node", str(Path(__file__).with_name("first_sagittal.mjs"))],
        cwd=ROOT / "frontend",
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"viewer run failed:\n{result.stderr[-3000:]}")
    runs: list[dict[str, object]] = json.loads(result.stdout.strip().splitlines()[-1])["runs"]
    return runs


def main(args: argparse.Namespace) -> int:
    bench = load_proxy_bench()
    runner = bench.load_runner()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="viewer-bench-")))
        orthanc = stack.enter_context(
            runner.start_orthanc(
                storage_dir=tmp / "orthanc",
                http_port=runner.free_port(),
                username="bench",
                password=secrets.token_urlsafe(24),
            )
        )
        started = time.perf_counter()
        series = bench.write_series(tmp / "dicom", args.slices, args.size)
        bench.store_series(orthanc, series)
        print(
            f"series: {args.slices} slices {args.size}x{args.size} int16, "
            f"{series.stored_bytes / 1e6:.1f} MB stored "
            f"(written and stored in {time.perf_counter() - started:.1f} s)"
        )
        database_url = stack.enter_context(bench.temporary_database())
        env = bench.platform_env(orthanc, database_url)
        bench.manage(env, "migrate", "--noinput")
        setup_env = {
            **env,
            "BENCH_PASSWORD": PASSWORD,
            "BENCH_STUDY_UID": series.study_uid,
            "BENCH_SERIES_UID": series.series_uid,
            "BENCH_SLICES": str(args.slices),
            "BENCH_SIZE": str(args.size),
        }
        if not args.unclassified:
            setup_env["BENCH_SLICES_FILE"] = str(known_slices(series.paths, tmp / "slices.json"))
        viewer_path = bench.manage(setup_env, "shell", "-c", SETUP_SCRIPT).strip().splitlines()[-1]
        base_url, _pid = stack.enter_context(
            bench.gunicorn(env, runner.free_port(), args.workers, args.threads)
        )
        requests.get(f"{base_url}/healthz", timeout=30)
        # One untimed retrieve first: Orthanc's and the OS's caches warm, as for the viewer.
        direct = [
            direct_download(orthanc, series.study_uid, series.series_uid)
            for _ in range(args.repeats + 1)
        ][1:]
        runs = run_viewer(base_url, viewer_path, args.repeats + 1)[1:]  # first run warms caches
    return report(args, direct, runs)


def report(
    args: argparse.Namespace, direct: list[tuple[float, int]], runs: list[dict[str, object]]
) -> int:
    direct_s = statistics.median(s for s, _ in direct)
    size = direct[0][1]
    first = [float(r["firstSagittalMs"]) / 1000 for r in runs]  # type: ignore[arg-type]
    complete = [float(r["completeMs"]) / 1000 for r in runs]  # type: ignore[arg-type]
    metadata = [float(r["metadataMs"]) / 1000 for r in runs]  # type: ignore[arg-type]
    source = runs[-1]["metadataSource"]
    errors = [e for r in runs for e in r["errors"]]  # type: ignore[attr-defined]
    first_s = statistics.median(first)
    print(f"hardware: {bench_hardware()}; chromium headless (SwiftShader WebGL), no GPU")
    print(
        f"platform: gunicorn {args.workers} workers x {args.threads} threads, DEBUG=1, "
        f"PostgreSQL; Orthanc on loopback; median of {len(runs)} viewer runs after one warm-up"
    )
    print(f"direct WADO-RS series retrieve: {direct_s:.3f} s for {size / 1e6:.1f} MB")
    kind = "unclassified" if args.unclassified else "classified (the result names every slice)"
    print(f"series {kind}: metadata from {source}")
    print(
        f"viewer: metadata {statistics.median(metadata):.2f} s, "
        f"first sagittal image {first_s:.2f} s (runs {', '.join(f'{v:.2f}' for v in first)}), "
        f"all slices {statistics.median(complete):.2f} s"
    )
    timeline = runs[-1].get("timeline") or {}
    marks = timeline.get("marks", {})  # type: ignore[union-attr]
    print("last run, ms from navigation: " + ", ".join(f"{k[7:]} {v}" for k, v in marks.items()))
    if args.requests:
        print("\n".join(f"  {line}" for line in timeline.get("requests", [])))  # type: ignore[union-attr]
    print(
        f"browser memory: JS heap {runs[-1]['jsHeapMB']} MB after loading, peak resident "
        f"{max(int(r['peakRssMB']) for r in runs)} MB (browser, renderer and GPU processes)"  # type: ignore[call-overload]
    )
    print(f"ratio first sagittal / direct download: {first_s / direct_s:.2f}")
    verdict = "ok" if first_s <= TARGET_S and not errors else "ABOVE TARGET"
    print(f"target: first sagittal image within {TARGET_S:.0f} s: {verdict}")
    if errors:
        print(f"page errors: {errors[:3]}")
    return 0 if verdict == "ok" else 1


def bench_hardware() -> str:
    return str(load_proxy_bench().hardware())


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
