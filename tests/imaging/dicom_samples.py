"""Synthetic upload payloads for ingest tests (files as bytes, zips)."""

import io
import zipfile
from pathlib import Path

from ml_worker.synthetic import (
    make_ct_volume,
    make_patient,
    make_study,
    write_ct_series,
    write_dose_report,
    write_secondary_capture,
)


def ct_series_files(
    tmp: Path,
    *,
    patient: int = 0,
    study: int | None = None,
    slices: int = 4,
    size: int = 32,
    transfer_syntax: str = "explicit",
    series_number: int = 1,
) -> list[tuple[str, bytes]]:
    person = make_patient(patient)
    visit = make_study(person, index=study)
    out = tmp / f"p{patient}-s{study}-{transfer_syntax}-{series_number}"
    paths = write_ct_series(
        make_ct_volume(n_slices=slices, rows=size, cols=size, seed=patient),
        out,
        patient=person,
        study=visit,
        transfer_syntax=transfer_syntax,
        series_number=series_number,
    )
    return [(p.name, p.read_bytes()) for p in paths]


def reject_files(tmp: Path, *, patient: int = 0) -> dict[str, bytes]:
    person = make_patient(patient)
    sc = write_secondary_capture(tmp / "sc", patient=person)
    sr = write_dose_report(tmp / "sr", patient=person)
    return {"sc.dcm": sc.read_bytes(), "dose.dcm": sr.read_bytes()}


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def related_body(
    files: list[tuple[str, bytes]], *, boundary: str = "bNd-7f3c9a", named: bool = True
) -> tuple[bytes, str]:
    """A STOW-style multipart/related body (one part per file) and its Content-Type.
    Named parts carry their file name in Content-Disposition, as the report uses it."""
    parts = []
    for name, data in files:
        head = f"--{boundary}\r\nContent-Type: application/dicom\r\n"
        if named:
            head += f'Content-Disposition: attachment; filename="{name}"\r\n'
        parts.append(head.encode() + b"\r\n" + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'
