"""Write synthetic CT studies: python -m ml_worker.synthetic --out DIR.

Layout: DIR/patientNN/seriesNNN_<kind>/*.dcm. Folder names carry no canaries,
so the tree itself is safe to list in logs.

With --phantom it writes an anatomical phantom dataset instead (see
`phantom_dataset`): DIR/<centre>/caseNNNN/*.dcm with manifest.jsonl, whose
slices carry exact spine-level labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ml_worker.synthetic.dicom_writer import (
    TRANSFER_SYNTAXES,
    write_ct_series,
    write_dose_report,
    write_secondary_capture,
)
from ml_worker.synthetic.identity import make_patient, make_study
from ml_worker.synthetic.phantom import FOVS
from ml_worker.synthetic.phantom_dataset import write_phantom_dataset
from ml_worker.synthetic.volume import make_ct_volume


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Write synthetic CT studies as DICOM.")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--patients", type=int, default=2, help="number of patients (< 100)")
    parser.add_argument("--slices", type=int, default=60, help="slices per CT series")
    parser.add_argument("--rows", type=int, default=256, help="rows per slice")
    parser.add_argument("--cols", type=int, default=None, help="columns per slice (default: rows)")
    parser.add_argument("--slice-thickness", type=float, default=2.5, help="mm")
    parser.add_argument("--transfer-syntax", choices=sorted(TRANSFER_SYNTAXES), default="explicit")
    parser.add_argument(
        "--seed", type=int, default=0, help="makes identities and pixels reproducible"
    )
    parser.add_argument(
        "--with-rejects",
        action="store_true",
        help="also write a Secondary Capture and a dose SR per patient (ingest must refuse them)",
    )
    phantom = parser.add_argument_group("anatomical phantom")
    phantom.add_argument(
        "--phantom",
        action="store_true",
        help="write a level-labelled phantom dataset (--patients cases) with a manifest",
    )
    phantom.add_argument("--fov", choices=[*FOVS, "mixed"], default="mixed")
    phantom.add_argument("--transitional-fraction", type=float, default=0.1)
    phantom.add_argument("--centres", default="A,B", help="comma-separated centre codes")
    phantom.add_argument("--numpy", action="store_true", help="volume.npz instead of DICOM")
    return parser


def write_phantom(args: argparse.Namespace) -> None:
    manifest = write_phantom_dataset(
        args.out,
        cases=args.patients,
        seed=args.seed,
        fovs=FOVS if args.fov == "mixed" else (args.fov,),
        transitional_fraction=args.transitional_fraction,
        rows=args.rows,
        cols=args.cols,
        slice_thickness_mm=args.slice_thickness,
        as_dicom=not args.numpy,
        centres=args.centres.split(","),
        transfer_syntax=args.transfer_syntax,
    )
    print(f"{args.patients} phantom cases; manifest {manifest}")


def write_patient(index: int, args: argparse.Namespace) -> list[Path]:
    """All files for one patient; the volume seed differs per patient."""
    patient = make_patient(index, seed=args.seed)
    study = make_study(patient, seed=args.seed)
    volume = make_ct_volume(
        n_slices=args.slices,
        rows=args.rows,
        cols=args.cols or args.rows,
        slice_thickness_mm=args.slice_thickness,
        seed=args.seed * 1000 + index,
    )
    root = args.out / f"patient{index:02d}"
    paths = write_ct_series(
        volume,
        root / "series001_ct",
        patient=patient,
        study=study,
        transfer_syntax=args.transfer_syntax,
    )
    if args.with_rejects:
        paths.append(write_secondary_capture(root / "series900_sc", patient=patient, study=study))
        paths.append(write_dose_report(root / "series999_dose", patient=patient, study=study))
    return paths


def main(args: argparse.Namespace) -> None:
    if not 0 < args.patients < 100:
        raise SystemExit("--patients must be between 1 and 99 (canaries must fit SH fields)")
    if args.phantom:
        write_phantom(args)
        return
    for index in range(args.patients):
        paths = write_patient(index, args)
        print(f"patient{index:02d}: {len(paths)} files under {args.out / f'patient{index:02d}'}")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
