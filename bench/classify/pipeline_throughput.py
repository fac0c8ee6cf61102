"""Slices per second of the full classification pipeline (fetch over DICOMweb,
decode, preprocess, forward with CAMs, sequence decoding, SR) against the bare
model forward pass on the same, already preprocessed slices, in the same run.
Target: pipeline at least 0.8 of bare forward. Runs on CUDA when present.

    .venv/bin/python bench/classify/pipeline_throughput.py [--arch efficientnet_v2_s] [--slices 80]

Starts its own temporary Orthanc with a phantom series; untrained weights (speed
does not depend on them)."""

import argparse
import importlib.util
import platform
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import pydicom
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ml_worker.fetch import SeriesStream, dicomweb_client  # noqa: E402
from ml_worker.model import ModelConfig, build_model, inference_context, prepare_for_inference  # noqa: E402
from ml_worker.pipeline import SeriesInput, classify_series  # noqa: E402
from ml_worker.preprocess import dataset_to_input  # noqa: E402
from ml_worker.registry import ModelRecord  # noqa: E402
from ml_worker.synthetic import make_patient, write_ct_series  # noqa: E402
from ml_worker.synthetic.phantom import make_phantom  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--arch",
        default="efficientnet_v2_s",
        choices=["tiny", "efficientnet_v2_s", "efficientnet_v2_m"],
    )
    parser.add_argument("--slices", type=int, default=80)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    return parser


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "orthanc_runner", ROOT / "deploy/orthanc/run_orthanc.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["orthanc_runner"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{model}, {torch.get_num_threads()} threads"


def bare_forward(
    model: torch.nn.Module, inputs: torch.Tensor, device: torch.device, batch: int
) -> float:
    started = time.perf_counter()
    with inference_context(device):
        for i in range(0, len(inputs), batch):
            x = inputs[i : i + batch].to(device).contiguous(memory_format=torch.channels_last)
            model(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main(args: argparse.Namespace) -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    runner = load_runner()
    work = Path(tempfile.mkdtemp(prefix="classify-bench-"))
    case = make_phantom(3, fov="trunk", rows=args.rows, cols=args.rows, slice_thickness_mm=2.5)
    start = max(0, (case.volume.hu.shape[0] - args.slices) // 2)
    volume = type(case.volume)(
        hu=case.volume.hu[start : start + args.slices],
        pixel_spacing_mm=case.volume.pixel_spacing_mm,
        slice_thickness_mm=case.volume.slice_thickness_mm,
        slice_positions_mm=case.volume.slice_positions_mm[start : start + args.slices],
    )
    files = write_ct_series(volume, work / "series", patient=make_patient(1))
    config = ModelConfig.for_arch(args.arch)
    model = prepare_for_inference(build_model(config), device)
    record = ModelRecord("bench", "0", "-", "", config.to_dict())
    password = secrets.token_urlsafe(16)
    with runner.start_orthanc(
        storage_dir=work / "orthanc",
        http_port=runner.free_port(),
        username="bench",
        password=password,
    ) as orthanc:
        import ml_worker.config as cfg

        cfg.DICOMWEB_USERNAME, cfg.DICOMWEB_PASSWORD = "bench", password
        client = dicomweb_client(orthanc.dicomweb_url)
        datasets = [pydicom.dcmread(f) for f in files]
        client.store_instances(datasets)
        study, series = str(datasets[0].StudyInstanceUID), str(datasets[0].SeriesInstanceUID)
        inputs = torch.stack([dataset_to_input(ds, config.input_size) for ds in datasets])
        bare_forward(model, inputs[: args.batch_size], device, args.batch_size)  # warm-up
        bare, full = [], []
        for _ in range(args.repeats):
            bare.append(bare_forward(model, inputs, device, args.batch_size))
            stream = SeriesStream(client, study, series)
            started = time.perf_counter()
            result, _ = classify_series(
                SeriesInput(stream, stream.headers),
                _Checkpoint(model, config),
                record,
                device=device,
                batch_size=args.batch_size,
            )
            full.append(time.perf_counter() - started)
    n = len(files)
    bare_rate, full_rate = n / statistics.median(bare), n / statistics.median(full)
    print(f"hardware: {hardware(device)} ({device.type}); torch {torch.__version__}")
    print(
        f"series: {n} slices {args.rows}x{args.rows}, model {args.arch} at {config.input_size} px, "
        f"batch {args.batch_size}, median of {args.repeats}"
    )
    print(f"bare forward:  {bare_rate:8.2f} slices/s ({statistics.median(bare):.2f} s)")
    print(
        f"full pipeline: {full_rate:8.2f} slices/s ({statistics.median(full):.2f} s; "
        f"stages {result['timings']})"
    )
    print(f"ratio pipeline/bare forward: {full_rate / bare_rate:.2f} (target >= 0.80)")


class _Checkpoint:
    """The slice of ml_worker.model.Checkpoint that classify_series uses."""

    def __init__(self, model: torch.nn.Module, config: ModelConfig) -> None:
        self.model, self.config = model, config


if __name__ == "__main__":
    main(get_args_parser().parse_args())
