"""One round of the learning loop on phantom series, without the platform.

Train the demo preset's tiny network on a small labelled set; classify an
unlabelled pool; flag the worst 10 % of the pool by the review queue's
uncertainty score (platform/learning/ranking.py, the function the platform's
queue ranks with); "correct" them with the phantoms' true labels (the
simulated labeler); retrain from scratch on labelled + corrected with the same
budget; evaluate both models on held-out phantom series. Prints the weakest
class's accuracy (weakest before the round) before and after, the overall
accuracy, the time and the hardware.

    nice -n 10 python bench/learning/loop_phantom.py [--labelled 8 --pool 50 ...]

Default size: about 10 minutes on 2 CPU cores. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform as host
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]

import torch  # noqa: E402

from learning.ranking import uncertainty_of, uncertainty_score  # noqa: E402
from ml_worker.levels import FINE_LEVELS  # noqa: E402
from ml_worker.runtime import describe_runtime  # noqa: E402
from ml_worker.training import train  # noqa: E402
from ml_worker.training.data import (  # noqa: E402
    PhantomSpec,
    PhantomVolumes,
    SliceDataset,
    SliceRecord,
    render_phantoms,
)
from ml_worker.training.evaluate import accuracy_by_class, evaluate_model, predict  # noqa: E402


def render(
    group: str, n: int, seed: int, size: int
) -> tuple[dict[str, list[SliceRecord]], PhantomVolumes]:
    """n phantom series; case ids prefixed by `group` (ids repeat across seeds)."""
    records, volumes = render_phantoms(PhantomSpec(n, seed=seed, size=size))
    cases: dict[str, list[SliceRecord]] = {}
    for record in records:
        case = f"{group}-{record.case_id}"
        cases.setdefault(case, []).append(dataclasses.replace(record, case_id=case))
    out = PhantomVolumes()
    out.volumes = {f"{group}-{k}": v for k, v in volumes.volumes.items()}
    return cases, out


def merged(*readers: PhantomVolumes) -> PhantomVolumes:
    out = PhantomVolumes()
    for reader in readers:
        out.volumes.update(reader.volumes)
    return out


def fit_model(
    train_records: list[SliceRecord], val_records: list[SliceRecord], reader: PhantomVolumes,
    args: argparse.Namespace, out: Path,
) -> Any:  # fmt: skip
    """The demo preset's protocol (train.fit/finish) on these records: same
    seed and samples per epoch for every round, so only the data differs."""
    targs = train.parse_args(
        ["--preset", "demo", "--data", "phantom:0", "--out", str(out), "--quiet",
         "--no-phantom-stream", "--no-disc-output", "--num-workers", "0",
         "--epochs", str(args.epochs), "--samples-per-epoch", str(args.samples_per_epoch)]
    )  # fmt: skip
    targs.register_to = None
    size = args.size
    data = train.Data(
        train=SliceDataset(train_records, reader, size, seed=targs.seed),
        val=SliceDataset(val_records, reader, size),
        test=None,
    )
    config = train.ModelConfig.for_arch("tiny", input_size=size)
    torch.manual_seed(targs.seed)
    model = train.build_model(config).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=targs.lr)
    out.mkdir(parents=True, exist_ok=True)
    state = train.RunState()
    device = torch.device("cpu")
    train.fit(model, optimizer, data, state, targs, device, lambda _line: None)
    best = train.load_checkpoint(out / "best.pt")
    return best.model.to(memory_format=torch.channels_last)


def rank_pool(
    model: Any, pool: dict[str, list[SliceRecord]], reader: PhantomVolumes, size: int
) -> list[tuple[float, str]]:
    """(queue score, case) per pool series, most uncertain first."""
    scored = []
    for case, records in pool.items():
        dataset = SliceDataset(records, reader, size)  # labelled slices: what a model result has
        logits, _ = predict(model, dataset)
        probs = logits.softmax(dim=1)
        confidence, index = probs.max(dim=1)
        levels = [FINE_LEVELS[i] for i in index.tolist()]
        score = uncertainty_score(uncertainty_of(levels, confidence.tolist()))
        scored.append((score, case))
    return sorted(scored, reverse=True)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return host.processor() or host.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labelled", type=int, default=8, help="labelled series to start with")
    parser.add_argument("--pool", type=int, default=50, help="unlabelled series to rank")
    parser.add_argument("--val", type=int, default=6)
    parser.add_argument("--test", type=int, default=16)
    parser.add_argument("--flag", type=float, default=0.10, help="share of the pool corrected")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples-per-epoch", type=int, default=1500)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "loop_phantom")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    # Disjoint case seeds: labelled, pool, validation and test never share a patient.
    labelled, r1 = render("labelled", args.labelled, 101, args.size)
    pool, r2 = render("pool", args.pool, 202, args.size)
    val, r3 = render("val", args.val, 303, args.size)
    test, r4 = render("test", args.test, 404, args.size)
    reader = merged(r1, r2, r3, r4)
    flat = lambda cases: [r for rs in cases.values() for r in rs]  # noqa: E731
    test_set = SliceDataset(flat(test), reader, args.size)
    print(f"rendered {len(reader.volumes)} phantom series in {time.perf_counter() - started:.0f} s")

    before = fit_model(flat(labelled), flat(val), reader, args, args.out / "before")
    report_before = evaluate_model(before, test_set)
    ranked = rank_pool(before, pool, reader, args.size)
    n_flag = max(1, round(args.flag * len(pool)))
    flagged = [case for _, case in ranked[:n_flag]]
    corrected = [r for case in flagged for r in pool[case]]  # the phantom's true labels
    after = fit_model(flat(labelled) + corrected, flat(val), reader, args, args.out / "after")
    report_after = evaluate_model(after, test_set)

    acc_before, acc_after = accuracy_by_class(report_before), accuracy_by_class(report_after)
    weakest = min(acc_before, key=lambda k: (acc_before[k], k))
    weakest_after = min(acc_after, key=lambda k: (acc_after[k], k))
    runtime = describe_runtime()
    print(f"hardware: {cpu_name()}, {runtime.get('cpu_count', '?')} CPUs, "
          f"torch {torch.__version__}, device cpu, 1 thread")  # fmt: skip
    print(f"labelled {args.labelled} series, pool {args.pool}, flagged {n_flag} "
          f"(scores {ranked[0][0]:.3f}..{ranked[n_flag - 1][0]:.3f}, pool median "
          f"{ranked[len(ranked) // 2][0]:.3f}), test {args.test} series "
          f"({report_before['slices']} slices); demo preset, {args.epochs} epochs x "
          f"{args.samples_per_epoch} slices")  # fmt: skip
    print(f"weakest class before the round: {weakest}: {100 * acc_before[weakest]:.1f} % -> "
          f"{100 * acc_after[weakest]:.1f} % after")  # fmt: skip
    print(f"weakest class after the round: {weakest_after}: {100 * acc_after[weakest_after]:.1f} %")
    fine = [k for k in acc_before if k in FINE_LEVELS]  # without set-valued rows (T13, L6)
    if fine:
        low = min(fine, key=lambda k: (acc_before[k], k))
        print(f"weakest fine class before the round: {low}: {100 * acc_before[low]:.1f} % -> "
              f"{100 * acc_after.get(low, 0):.1f} % after")  # fmt: skip
    print(f"overall accuracy: {100 * report_before['accuracy']:.1f} % -> "
          f"{100 * report_after['accuracy']:.1f} %")  # fmt: skip
    print(
        "per class (before -> after): "
        + ", ".join(
            f"{k} {100 * acc_before[k]:.0f}->{100 * acc_after.get(k, 0):.0f}" for k in acc_before
        )
    )
    print(f"total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
