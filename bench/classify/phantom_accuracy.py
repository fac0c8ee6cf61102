"""Slice accuracy on a held-out phantom test set: per-slice argmax against the
series sequence decoder, with the per-class table in the reference study's
form (slices, correct (wrong), accuracy). Targets after decoding: overall at
least 99 %, every class at least 97 %.

    .venv/bin/python bench/classify/phantom_accuracy.py [--registry var/models] [--cases 24]

Loads the registry's current model (train one with
`python -m ml_worker.training.train --preset demo --register-to var/models`).
Test cases use seeds no training run uses (from 900000 up)."""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ml_worker import registry  # noqa: E402
from ml_worker.decoding import argmax_levels, decode_series  # noqa: E402
from ml_worker.inference import predict_series  # noqa: E402
from ml_worker.levels import FINE_LEVELS, NUM_CLASSES, target_mask  # noqa: E402
from ml_worker.runtime import select_device  # noqa: E402
from ml_worker.synthetic.phantom import make_phantom  # noqa: E402

FOVS = ("trunk", "chest", "abdomen")
TEST_SEED_BASE = 900_000


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=ROOT / "var" / "models")
    parser.add_argument("--model-name", default="spine-levels")
    parser.add_argument("--version", default=None)
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--slice-thickness", type=float, default=2.5)
    parser.add_argument("--transitional-every", type=int, default=8, help="every n-th case")
    return parser


class Tally:
    """Per true class: slices and correct counts (a T13/L6 truth accepts either neighbour)."""

    def __init__(self) -> None:
        self.slices = np.zeros(NUM_CLASSES, dtype=np.int64)
        self.correct = np.zeros(NUM_CLASSES, dtype=np.int64)

    def add(self, predicted: np.ndarray, truth: list[str | None]) -> None:
        for k, label in zip(predicted, truth, strict=True):
            if label is None:
                continue  # disc slices carry no level
            allowed = target_mask(label)
            home = FINE_LEVELS.index(label) if label in FINE_LEVELS else allowed.index(True)
            self.slices[home] += 1
            self.correct[home] += int(allowed[int(k)])

    def overall(self) -> float:
        return float(self.correct.sum() / max(self.slices.sum(), 1))

    def per_class(self) -> np.ndarray:
        return self.correct / np.maximum(self.slices, 1)


class FlagTally:
    """Transitional-anatomy flags: raised on the transitional cases, and false alarms on
    the normal ones (a lumbosacral flag counts for an L6 case: both name the junction)."""

    EXPECTED = {"T13": {"transitional_T13"}, "L6": {"transitional_L6", "transitional_lumbosacral"}}
    ANY = {"transitional_T13", "transitional_L6", "transitional_lumbosacral"}

    def __init__(self) -> None:
        self.found = {"T13": [0, 0], "L6": [0, 0]}
        self.false_alarms = [0, 0]

    def add(self, transitional: str | None, codes: set[str]) -> None:
        if transitional is None:
            self.false_alarms[0] += int(bool(codes & self.ANY))
            self.false_alarms[1] += 1
        else:
            self.found[transitional][0] += int(bool(codes & self.EXPECTED[transitional]))
            self.found[transitional][1] += 1

    def print(self) -> None:
        found = ", ".join(f"{k} flagged {a}/{n}" for k, (a, n) in self.found.items())
        print(
            f"transitional flags: {found}; "
            f"false alarms on normal cases {self.false_alarms[0]}/{self.false_alarms[1]}"
        )


def print_table(argmax: Tally, decoded: Tally) -> None:
    print(
        f"{'class':<9}{'slices':>7}  {'argmax correct (wrong)':>24}{'acc':>8}  "
        f"{'decoded correct (wrong)':>25}{'acc':>8}"
    )
    for k, name in enumerate(FINE_LEVELS):
        n = argmax.slices[k]
        a, d = argmax.correct[k], decoded.correct[k]
        print(
            f"{name:<9}{n:>7}  {f'{a} ({n - a})':>24}{a / max(n, 1):>8.4f}  "
            f"{f'{d} ({n - d})':>25}{d / max(n, 1):>8.4f}"
        )
    print(
        f"{'total':<9}{argmax.slices.sum():>7}  {'':>24}{argmax.overall():>8.4f}  "
        f"{'':>25}{decoded.overall():>8.4f}"
    )


def main(args: argparse.Namespace) -> None:
    device = select_device()
    record = registry.resolve(args.registry, args.model_name, args.version)
    model = registry.load(args.registry, record, device).model
    argmax, decoded = Tally(), Tally()
    flags = FlagTally()
    normal = Tally()  # decoded, cases without transitional anatomy
    started = time.perf_counter()
    for i in range(args.cases):
        every = args.transitional_every
        transitional = ("T13", "L6")[(i // every) % 2] if i % every == 1 else None
        case = make_phantom(
            TEST_SEED_BASE + i,
            fov=FOVS[i % len(FOVS)],
            rows=args.rows,
            cols=args.rows,
            slice_thickness_mm=args.slice_thickness,
            transitional=transitional,
        )
        prediction = predict_series(model, list(case.volume.hu), device=device, with_cams=False)
        probs = prediction.probs
        argmax.add(argmax_levels(probs), case.levels)
        decoding = decode_series(
            probs, case.volume.slice_positions_mm, disc_probs=prediction.disc_probs
        )
        decoded.add(decoding.levels, case.levels)
        if transitional is None:
            normal.add(decoding.levels, case.levels)
        flags.add(transitional, decoding.flag_codes)
    elapsed = time.perf_counter() - started
    print(
        f"model {record.name} v{record.version} ({record.config['arch']}, "
        f"{record.config['input_size']} px) on {device.type}, torch {torch.__version__}"
    )
    print(
        f"{args.cases} held-out phantom cases ({', '.join(FOVS)}), {args.rows} px, "
        f"{args.slice_thickness} mm slices, {elapsed:.1f} s"
    )
    print_table(argmax, decoded)
    worst = FINE_LEVELS[int(np.argmin(decoded.per_class()))]
    ok = decoded.overall() >= 0.99 and decoded.per_class().min() >= 0.97
    print(
        f"decoded/argmax accuracy ratio: {decoded.overall() / max(argmax.overall(), 1e-9):.4f}; "
        f"weakest class after decoding: {worst} {decoded.per_class().min():.4f}"
    )
    print(
        f"decoded accuracy on the {int(flags.false_alarms[1])} normal cases: "
        f"{normal.overall():.4f}, weakest class {normal.per_class()[normal.slices > 0].min():.4f}"
    )
    flags.print()
    print(f"targets (overall >= 0.99, every class >= 0.97): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
