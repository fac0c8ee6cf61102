"""Training and evaluation: set-valued loss, splits, class balance, manifest and
phantom data, a short training run with best/last checkpoints, resume, reports
and registration. Tiny inputs (64 px) keep the whole file CPU-fast."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader

from ml_worker import registry
from ml_worker.levels import DISC_INDEX, INDEX, LUMBAR, NUM_CLASSES
from ml_worker.model import ModelConfig, build_model, load_checkpoint
from ml_worker.preprocess import dataset_to_input
from ml_worker.synthetic import make_ct_volume, make_patient, write_ct_series
from ml_worker.training import evaluate, train
from ml_worker.training.data import (
    Augment,
    PhantomStream,
    SliceDataset,
    SliceRecord,
    augment_hu,
    balance_weights,
    class_loss_weights,
    data_summary,
    load_source,
    mask_tensor,
    read_file_hu,
    read_manifest,
    split_by_case,
    split_by_centre,
)
from ml_worker.training.evaluate import correct, set_valued_nll

SIZE = 64
LEVELS = ("T11", "T12", "L1", "L2", "L3")


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # On a shared 2-core machine, 2 spinning OpenMP threads run ~10x slower than one.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --- Stand-in data: a bright block whose height encodes the level ----------------------


def standin_records(n_cases: int, centres: tuple[str, ...] = ("A", "B")) -> list[SliceRecord]:
    records = []
    for case in range(n_cases):
        for index in range(12):
            label = None if index % 6 == 5 else LEVELS[(index + case) % len(LEVELS)]
            centre = centres[case % len(centres)]
            records.append(SliceRecord(f"case{case}", centre, index, label, fov="abdomen"))
    return records


def standin_hu(record: SliceRecord) -> np.ndarray:
    rng = np.random.default_rng([hash(record.case_id) % 1000, record.slice_index])
    hu = np.full((SIZE, SIZE), -1000.0, dtype=np.float32)
    hu[8:56, 8:56] = 40.0 + rng.normal(0, 10, (48, 48))
    level = LEVELS.index(record.label) if record.label in LEVELS else 0
    hu[10 + 9 * level : 16 + 9 * level, 24:40] = 700.0
    return hu


# --- Set-valued loss ----------------------------------------------------------------------


def test_set_valued_loss_equals_cross_entropy_for_fine_labels() -> None:
    torch.manual_seed(0)
    logits = torch.randn(8, NUM_CLASSES)
    target = torch.randint(0, NUM_CLASSES, (8,))
    mask = F.one_hot(target, NUM_CLASSES).bool()
    torch.testing.assert_close(set_valued_nll(logits, mask), F.cross_entropy(logits, target))
    weight = torch.rand(NUM_CLASSES) + 0.5
    torch.testing.assert_close(
        set_valued_nll(logits, mask, weight), F.cross_entropy(logits, target, weight=weight)
    )


def test_coarse_label_accepts_any_member_and_counts_it_correct() -> None:
    lumbar = mask_tensor([SliceRecord("c", "A", 0, "Lumbar", "chest")])
    assert lumbar[0].nonzero().flatten().tolist() == sorted(LUMBAR)
    for member in ("L1", "L3", "L5"):  # confident on any lumbar level: ~no loss, correct
        logits = torch.full((1, NUM_CLASSES), -10.0)
        logits[0, INDEX[member]] = 10.0
        assert float(set_valued_nll(logits, lumbar)) < 1e-6
        assert correct(logits, lumbar).item()
    wrong = torch.full((1, NUM_CLASSES), -10.0)
    wrong[0, INDEX["T12"]] = 10.0
    assert float(set_valued_nll(wrong, lumbar)) > 10.0 and not correct(wrong, lumbar).item()
    # Probability spread over the set is as good as on one member.
    spread = torch.full((1, NUM_CLASSES), -10.0)
    spread[0, sorted(LUMBAR)] = 10.0
    assert float(set_valued_nll(spread, lumbar)) < 1e-6


# --- Splits and balance -------------------------------------------------------------------


def test_split_by_case_never_puts_a_patient_in_two_parts() -> None:
    records = standin_records(20, centres=("A", "B"))
    train_part, val, test = split_by_case(records, [0.2, 0.2], seed=3)
    cases = [{r.case_id for r in part} for part in (train_part, val, test)]
    assert not (cases[0] & cases[1]) and not (cases[0] & cases[2]) and not (cases[1] & cases[2])
    assert [len(c) for c in cases] == [12, 4, 4]
    assert {r.centre for r in val} == {"A", "B"}  # dealt out per centre
    assert len(train_part) + len(val) + len(test) == len(records)
    assert split_by_case(records, [0.2, 0.2], seed=3) == [train_part, val, test]
    # A tiny set still gives validation one case.
    _, small_val = split_by_case(standin_records(3), [0.05], seed=0)
    assert len({r.case_id for r in small_val}) == 1


def test_split_by_centre_holds_out_whole_centres() -> None:
    records = standin_records(9, centres=("A", "B", "C"))
    kept, external = split_by_centre(records, ["C"])
    assert {r.centre for r in kept} == {"A", "B"}
    assert list(external) == ["C"] and {r.centre for r in external["C"]} == {"C"}
    assert len(kept) + len(external["C"]) == len(records)
    with pytest.raises(ValueError, match="no slices"):
        split_by_centre(records, ["Z"])


def test_balance_weights_give_each_class_equal_total_weight() -> None:
    records = [SliceRecord("c", "A", i, "L3") for i in range(30)]
    records += [SliceRecord("c", "A", 30 + i, "L1") for i in range(3)]
    records += [SliceRecord("d", "A", i, "Lumbar", "chest") for i in range(6)]
    weights = balance_weights(records)
    totals = Counter()
    for record, weight in zip(records, weights.tolist(), strict=True):
        totals[record.row_key()] += weight
    assert totals == pytest.approx({"L3": 1.0, "L1": 1.0, "Lumbar (chest)": 1.0})
    class_weight = class_loss_weights(records)
    assert class_weight[INDEX["L1"]] > class_weight[INDEX["L3"]] > 0
    assert class_weight[INDEX["T4"]] == 0  # absent classes get no weight


def test_disc_slices_are_left_out_and_summarised() -> None:
    records = standin_records(2)
    dataset = SliceDataset(records, standin_hu, SIZE)
    assert len(dataset) == sum(r.label is not None for r in records)
    summary = data_summary(records)
    assert summary["disc_slices_excluded"] == 4 and summary["cases_per_centre"] == {"A": 1, "B": 1}
    assert list(summary["slices_per_class"]) == list(LEVELS)  # anatomical order


def test_augmentation_is_seeded_keeps_air_outside_and_does_not_flip() -> None:
    hu = standin_hu(SliceRecord("c", "A", 0, "T11"))
    hu[:, :8] = 40.0  # a left-right asymmetry that a flip would move
    aug = Augment(rotation_deg=0.0, scale=(1.0, 1.0), shift=0.0, noise_sd=0.0, hu_offset=0.0)
    same = augment_hu(hu, aug, np.random.default_rng(1))
    assert same[:, 2].mean() > 0 and same[:, -3].mean() < -900  # no flip
    full = Augment()
    a = augment_hu(hu, full, np.random.default_rng([0, 1, 5]))
    b = augment_hu(hu, full, np.random.default_rng([0, 1, 5]))
    c = augment_hu(hu, full, np.random.default_rng([0, 2, 5]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    dataset = SliceDataset(standin_records(1), standin_hu, SIZE, augment=full, seed=0)
    dataset.set_epoch(1)
    x1, _ = dataset[0]
    dataset.set_epoch(2)
    x2, _ = dataset[0]
    assert x1.shape == (3, SIZE, SIZE) and not torch.equal(x1, x2)


# --- Training -----------------------------------------------------------------------------


def test_training_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    dataset = SliceDataset(standin_records(4), standin_hu, SIZE)
    model = build_model(ModelConfig(arch="tiny", input_size=SIZE)).to(
        memory_format=torch.channels_last
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(dataset, batch_size=16, shuffle=True)
    losses = [
        train.train_one_epoch(model, loader, optimizer, torch.device("cpu"))["loss"]
        for _ in range(6)
    ]
    assert losses[-1] < 0.7 * losses[0], losses


# --- Exported datasets (manifest of DICOM) and the CLIs -----------------------------------


def write_manifest(root: Path, n_cases: int = 6) -> Path:
    """DICOM series from ml_worker.synthetic with a manifest: centres A/B/C,
    a disc slice in each case and one chest-scheme case with coarse labels."""
    rows = []
    for case in range(n_cases):
        volume = make_ct_volume(n_slices=8, rows=32, cols=32, seed=case)
        paths = write_ct_series(volume, root / f"case{case}", patient=make_patient(case))
        scheme = "chest" if case == 1 else "fine"
        for index, path in enumerate(paths):
            label = LEVELS[index % len(LEVELS)] if index != 3 else ""
            if scheme == "chest" and label.startswith("L"):
                label = "Lumbar"
            rows.append(
                {
                    "path": str(path.relative_to(root)),
                    "case_id": f"case{case}",
                    "centre": "ABC"[case % 3],
                    "slice_index": index,
                    "label": label,
                    "scheme": scheme,
                    "fov": "abdomen",
                }  # fmt: skip
            )
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_manifest(tmp_path_factory.mktemp("export"))


def test_manifest_loads_dicom_through_the_inference_preprocessing(manifest: Path) -> None:
    records = read_manifest(manifest)
    assert len(records) == 48 and {r.centre for r in records} == {"A", "B", "C"}
    assert sum(r.label is None for r in records) == 6
    coarse = [r for r in records if r.scheme == "chest" and r.label == "Lumbar"]
    assert coarse and coarse[0].row_key() == "Lumbar (chest)"
    dataset = SliceDataset(records, read_file_hu, SIZE)
    x, mask = dataset[0]
    expected = dataset_to_input(pydicom.dcmread(dataset.records[0].path), SIZE)
    torch.testing.assert_close(x, expected)
    assert mask.tolist() == [i == INDEX["T11"] for i in range(NUM_CLASSES)]


def test_manifest_refuses_unknown_labels(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("path,case_id,label,scheme\na.dcm,c1,Lumbar,abdomen\n")
    with pytest.raises(KeyError, match="abdomen scheme"):
        read_manifest(bad)
    bad.write_text("path,label\na.dcm,L3\n")
    with pytest.raises(ValueError, match="case_id"):
        read_manifest(bad)


def test_phantom_dataset_manifest_loads_dicom_and_npz(tmp_path: Path) -> None:
    from ml_worker.synthetic.phantom_dataset import write_phantom_dataset

    for as_dicom in (True, False):
        out = tmp_path / ("dicom" if as_dicom else "npz")
        manifest = write_phantom_dataset(
            out, cases=2, seed=0, rows=32, slice_thickness_mm=20.0, as_dicom=as_dicom
        )
        records = read_manifest(manifest)
        assert {r.case_id for r in records} == {"case0000", "case0001"}
        assert all(r.fov in ("chest", "abdomen", "trunk") for r in records)  # from cases.jsonl
        assert any(r.label is None for r in records) and records[0].label is not None
        dataset = SliceDataset(records, read_file_hu, SIZE)
        x, mask = dataset[len(dataset) - 1]
        assert x.shape == (3, SIZE, SIZE) and mask.sum() >= 1


def test_phantoms_render_in_memory_at_the_input_size() -> None:
    records, read_hu = load_source("phantom:3", size=48, slice_thickness_mm=20.0)
    assert {r.centre for r in records} == {"A", "B", "C"}
    assert read_hu(records[0]).shape == (48, 48)
    summary = data_summary(records)
    assert summary["cases"] == 3 and sum(summary["cases_per_fov"].values()) == 3
    assert summary["disc_slices_excluded"] > 0
    again, _ = load_source("phantom:3", size=48, slice_thickness_mm=20.0)
    assert again == records  # deterministic in the seed


def run_args(manifest: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--data", str(manifest), "--arch", "tiny", "--input-size", str(SIZE), "--out", str(out),
        "--batch-size", "8", "--lr", "1e-3", "--val-fraction", "0.25", "--val-centre", "C",
        "--quiet", *extra,
    ]  # fmt: skip


def state_of(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_training_run_checkpoints_resumes_and_reports(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train.main(train.parse_args(run_args(manifest, out, "--epochs", "2")))
    for name in ("best.pt", "last.pt", "model.pt", "history.json", "history.png", "metrics.json"):
        assert (out / name).is_file(), name
    last = load_checkpoint(out / "last.pt")
    assert last.epoch == 2 and last.optimizer_state is not None
    assert last.extra["args"]["arch"] == "tiny" and "git_sha" in last.extra
    assert load_checkpoint(out / "model.pt").optimizer_state is None  # registered weights only

    train.main(train.parse_args(run_args(manifest, out, "--epochs", "3", "--resume")))
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert load_checkpoint(out / "last.pt").epoch == 3
    # Resuming repeats the uninterrupted run exactly (per-epoch seeding).
    straight = tmp_path / "straight"
    train.main(train.parse_args(run_args(manifest, straight, "--epochs", "3")))
    for key, value in state_of(straight / "last.pt").items():
        torch.testing.assert_close(state_of(out / "last.pt")[key], value, msg=key)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["external_accuracy"].keys() == {"C"}
    assert {"val_accuracy", "best_epoch", "per_class_accuracy"} <= metrics.keys()
    table = (out / "eval" / "external_C_per_class.md").read_text()
    assert "| Class | Slices | Correct (wrong) | Accuracy |" in table and "**All**" in table
    assert Image.open(out / "history.png").size[0] > 600
    assert Image.open(out / "eval" / "val_confusion.png").size[0] > 600


def test_evaluate_cli_writes_table_csv_and_pngs(manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train.main(train.parse_args(run_args(manifest, out, "--epochs", "1", "--balance", "loss")))
    report = tmp_path / "report"
    args = evaluate.get_args_parser().parse_args(
        [
            "--checkpoint",
            str(out / "best.pt"),
            "--data",
            str(manifest),
            "--out",
            str(report),
            "--history",
            str(out / "history.json"),
            "--name",
            "all",
        ]  # fmt: skip
    )
    metrics = evaluate.main(args)
    assert metrics["slices"] == 42 and set(metrics["per_centre"]) == {"A", "B", "C"}
    with (report / "all_per_class.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["class"] for r in rows] == ["T11", "T12", "L1", "L3", "Lumbar (chest)", "All"]
    assert int(rows[-1]["slices"]) == 42
    assert int(rows[0]["correct"]) + int(rows[0]["wrong"]) == int(rows[0]["slices"])
    assert "centre B" in (report / "all_per_class.md").read_text()
    for png in ("all_confusion.png", "history.png"):
        assert Image.open(report / png).format == "PNG"
    assert np.asarray(metrics["confusion"]["matrix"]).shape == (NUM_CLASSES, NUM_CLASSES)


def test_training_registers_a_model_version(manifest: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    metrics = train.main(
        train.parse_args(
            run_args(
                manifest,
                tmp_path / "run",
                "--epochs",
                "1",
                "--test-fraction",
                "0.25",
                "--register-to",
                str(root),
                "--model-name",
                "spine-levels",
            )  # fmt: skip
        )
    )
    record = registry.resolve(root, "spine-levels")
    assert record.version == "1" and metrics["registered"]["version"] == "1"
    assert {"val_accuracy", "test_accuracy", "per_class_accuracy"} <= record.metrics.keys()
    assert record.training_data["train"]["cases_per_centre"].keys() <= {"A", "B"}
    assert record.training_data["external_C"]["cases"] == 2
    assert record.config["arch"] == "tiny"
    loaded = registry.load(root, record, torch.device("cpu"))
    assert loaded.extra["training_data"] == record.training_data


def test_phantom_stream_renders_new_patients_each_epoch() -> None:
    stream = PhantomStream(1, 16, 48, augment=Augment(), slices_per_patient=4)
    x, mask = stream[0]
    assert x.shape == (3, 48, 48) and 1 <= int(mask.sum()) <= 2  # a transitional level allows 2
    first = [stream.source.sample(i).patient_seed for i in range(16)]
    stream.set_epoch(1)
    assert not torch.equal(stream[0][0], x)
    second = [stream.source.sample(16 + i).patient_seed for i in range(16)]
    assert len(set(first)) == 4 and not set(first) & set(second)


def test_demo_preset_trains_on_streamed_phantoms_and_registers(tmp_path: Path) -> None:
    args = train.parse_args(
        [
            "--preset",
            "demo",
            "--data",
            "phantom:4",
            "--input-size",
            "48",
            "--epochs",
            "1",
            "--samples-per-epoch",
            "32",
            "--slice-thickness",
            "20",
            "--out",
            str(tmp_path / "run"),
            "--register-to",
            str(tmp_path / "models"),
            "--quiet",
        ]  # fmt: skip
    )
    assert args.arch == "tiny" and args.phantom_stream and args.epochs == 1
    assert not args.augment and train.parse_args(["--preset", "demo", "--augment"]).augment
    metrics = train.main(args)
    record = registry.resolve(tmp_path / "models", "spine-levels")
    assert record.version == metrics["registered"]["version"] == "1"
    assert record.training_data["train"]["slices_per_epoch"] == 32
    assert record.training_data["val"]["cases"] + record.training_data["test"]["cases"] == 4
    assert "test_accuracy" in record.metrics and record.code_version == train.code_version()
    with pytest.raises(SystemExit):
        train.parse_args(["--out", "x"])  # no data


def test_a_disc_output_stream_trains_discs_as_the_extra_class() -> None:
    stream = PhantomStream(2, 200, 48, slices_per_patient=4, disc_output=True)
    targets = [stream[i][1] for i in range(200)]
    assert all(t.shape == (NUM_CLASSES + 1,) for t in targets)
    discs = [t for t in targets if t[DISC_INDEX]]
    assert discs and all(int(t.sum()) == 1 for t in discs)  # a disc is nothing but a disc
    assert len(discs) < len(targets) // 3
    assert "disc output" in stream.summary()["sampling"]
    with pytest.raises(SystemExit):
        train.parse_args(["--data", "manifest.csv", "--out", "x", "--disc-output"])
