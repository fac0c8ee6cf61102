"""Spine levels as a DICOM SR: standard content, round trip, no added identity."""

from __future__ import annotations

import copy
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ComprehensiveSRStorage

from ml_worker.levels import FINE_LEVELS, TRANSITIONAL
from ml_worker.sr import (
    LEVEL_SITES,
    PATIENT_STUDY_KEYWORDS,
    LevelRangeLike,
    build_level_sr,
    read_level_sr,
    read_level_sr_flags,
)
from ml_worker.synthetic import (
    CANARY_PREFIX,
    canary_strings,
    make_ct_volume,
    make_patient,
    write_ct_series,
)

# The synthetic names are single-component canaries, which highdicom warns about.
pytestmark = pytest.mark.filterwarnings("ignore:The string .* is unlikely:UserWarning")

RANGES: list[LevelRangeLike] = [
    {"level": "T12", "first": 0, "last": 3, "mid": 1, "confidence": 0.91},
    {"level": "L1", "first": 4, "last": 7, "mid": 5, "confidence": 0.873456789},
    {"level": "L2", "first": 8, "last": 10, "mid": 9, "confidence": 0.5},
    # A one-slice range: first, mid and last are the same image.
    {"level": "L6", "first": 11, "last": 11, "mid": 11, "confidence": 0.25},
]
FLAGS = [("transitional", "L6 present: six lumbar-type vertebrae"), ("gap", "")]
SITES = {"T12": "23215003", "L1": "66794005", "L2": "14293000", "L6": "122496007"}
SR_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
}
ALGORITHM_NAME = "111001"  # DCM "Algorithm Name"
ALGORITHM_VERSION = "111003"  # DCM "Algorithm Version"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Dataset]:
    volume = make_ct_volume(n_slices=12, rows=32, cols=32)
    paths = write_ct_series(volume, tmp_path_factory.mktemp("ct"), patient=make_patient(3))
    return [pydicom.dcmread(path) for path in paths]


@pytest.fixture(scope="module")
def sr_bytes(sources: list[Dataset]) -> bytes:
    sr = build_level_sr(sources, RANGES, model_name="effnetv2-s", model_version="7", flags=FLAGS)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, sr, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def sr(sr_bytes: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(sr_bytes))


def _items(dataset: Dataset) -> Iterator[Dataset]:
    """Every content item of the SR tree, depth first."""
    for item in dataset.get("ContentSequence", []):
        yield item
        yield from _items(item)


def _text_values(sr: Dataset, code_value: str) -> list[str]:
    return [
        item.TextValue
        for item in _items(sr)
        if item.ValueType == "TEXT" and item.ConceptNameCodeSequence[0].CodeValue == code_value
    ]


def test_it_is_a_comprehensive_sr_in_the_source_study(sr: Dataset, sources: list[Dataset]) -> None:
    assert sr.SOPClassUID == ComprehensiveSRStorage
    assert sr.SOPClassUID in SR_CLASSES
    assert sr.file_meta.MediaStorageSOPClassUID == ComprehensiveSRStorage
    assert sr.Modality == "SR"
    assert sr.StudyInstanceUID == sources[0].StudyInstanceUID
    assert sr.SeriesInstanceUID != sources[0].SeriesInstanceUID
    assert sr.SOPInstanceUID not in {ds.SOPInstanceUID for ds in sources}
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert sr.ContentQualification == "RESEARCH"
    assert sr.SeriesNumber == 990


def test_levels_and_confidences_round_trip(sr: Dataset, sources: list[Dataset]) -> None:
    uids = [ds.SOPInstanceUID for ds in sources]
    records = read_level_sr(sr)
    assert [r["level"] for r in records] == [r["level"] for r in RANGES]
    for record, expected in zip(records, RANGES, strict=True):
        assert record["first_sop_instance_uid"] == uids[expected["first"]]
        assert record["mid_sop_instance_uid"] == uids[expected["mid"]]
        assert record["last_sop_instance_uid"] == uids[expected["last"]]
        assert record["confidence"] == pytest.approx(expected["confidence"], abs=1e-9)


def test_flags_round_trip_as_text_items(sr: Dataset) -> None:
    assert read_level_sr_flags(sr) == FLAGS
    assert _text_values(sr, "121106")[0] == "transitional: L6 present: six lumbar-type vertebrae"


def test_references_point_at_source_images(sr: Dataset, sources: list[Dataset]) -> None:
    uids = {ds.SOPInstanceUID: ds.SOPClassUID for ds in sources}
    references = [item.ReferencedSOPSequence[0] for item in _items(sr) if item.ValueType == "IMAGE"]
    assert references
    for reference in references:
        assert uids[reference.ReferencedSOPInstanceUID] == reference.ReferencedSOPClassUID
    # Every slice fed the decoder, so every slice is evidence.
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == sources[0].StudyInstanceUID
    series = evidence.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == sources[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in series.ReferencedSOPSequence} == set(uids)


def test_each_level_has_its_snomed_site_and_a_unitless_confidence(sr: Dataset) -> None:
    groups = [i for i in _items(sr) if i.ConceptNameCodeSequence[0].CodeValue == "125007"]
    assert len(groups) == len(RANGES)
    for group, expected in zip(groups, RANGES, strict=True):
        by_name = {
            item.ConceptNameCodeSequence[0].CodeValue: item for item in group.ContentSequence
        }
        site = by_name["363698007"].ConceptCodeSequence[0]  # SCT "Finding Site"
        assert (site.CodingSchemeDesignator, site.CodeValue) == ("SCT", SITES[expected["level"]])
        measured = by_name["111012"].MeasuredValueSequence[0]  # DCM "Certainty of Finding"
        assert measured.MeasurementUnitsCodeSequence[0].CodeValue == "1"
        assert by_name["112039"].TextValue == expected["level"]  # DCM "Tracking Identifier"


def test_algorithm_and_device_observer_are_identified(sr: Dataset) -> None:
    assert set(_text_values(sr, ALGORITHM_NAME)) == {"effnetv2-s"}
    assert set(_text_values(sr, ALGORITHM_VERSION)) == {"7"}
    observer_type = next(
        i for i in sr.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == "121005"
    )
    assert observer_type.ConceptCodeSequence[0].CodeValue == "121007"  # DCM "Device"
    assert _text_values(sr, "121013") == ["effnetv2-s 7"]  # DCM "Device Observer Name"


def test_it_adds_no_identity_beyond_the_allow_listed_attributes(
    sr: Dataset, sr_bytes: bytes, sources: list[Dataset]
) -> None:
    source = sources[0]
    allowed = canary_strings(
        "\n".join(str(source[k].value) for k in PATIENT_STUDY_KEYWORDS if k in source)
    )
    found = canary_strings(sr_bytes)
    assert found, "the SR should carry the (here synthetic) patient identity"
    assert found <= allowed
    assert canary_strings(sr) <= allowed
    # Institution, equipment, request, physicians of record and private data stay behind.
    for keyword in ("InstitutionName", "StationName", "DeviceSerialNumber", "PatientAddress",
                    "OtherPatientIDsSequence", "RequestAttributesSequence", "StudyDescription",
                    "PhysiciansOfRecord", "ProtocolName"):  # fmt: skip
        assert keyword not in sr
    assert not any(element.tag.is_private for element in sr.iterall())
    assert sr.PatientSize == source.PatientSize and sr.PatientSex == source.PatientSex
    assert CANARY_PREFIX not in sr.SeriesDescription


def test_de_identification_record_is_carried(sources: list[Dataset]) -> None:
    deidentified = [_deidentified(ds) for ds in sources]
    sr = build_level_sr(deidentified, RANGES[:1], model_name="m", model_version="1")
    assert sr.PatientIdentityRemoved == "YES"
    assert sr.DeidentificationMethod == "PS3.15 Basic"
    assert sr.PatientName == "PSEUDO^0001"
    assert sr.AccessionNumber == "" and sr.StudyDate == ""
    assert not canary_strings(sr)


def _deidentified(ds: Dataset) -> Dataset:
    out = Dataset()
    for keyword in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID",
                    "Modality", "FrameOfReferenceUID", "Rows", "Columns", "PixelSpacing",
                    "SliceThickness", "ImagePositionPatient", "ImageOrientationPatient",
                    "PatientSex", "StudyTime"):  # fmt: skip
        setattr(out, keyword, ds[keyword].value)
    # A profile may drop type 2 attributes (StudyDate, AccessionNumber): the SR gets them empty.
    out.PatientName, out.PatientID = "PSEUDO^0001", "PSEUDO-0001"
    out.PatientIdentityRemoved, out.DeidentificationMethod = "YES", "PS3.15 Basic"
    return out


def test_tracking_uids_are_stable_per_series_and_level(sr: Dataset, sources: list[Dataset]) -> None:
    again = build_level_sr(sources, RANGES, model_name="other", model_version="8")
    assert again.SOPInstanceUID != sr.SOPInstanceUID
    assert again.SeriesInstanceUID != sr.SeriesInstanceUID
    tracking = "112040"  # DCM "Tracking Unique Identifier"
    first = [i.UID for i in _items(sr) if i.ConceptNameCodeSequence[0].CodeValue == tracking]
    second = [i.UID for i in _items(again) if i.ConceptNameCodeSequence[0].CodeValue == tracking]
    assert first == second and len(set(first)) == len(RANGES)


def test_given_uids_are_used(sources: list[Dataset]) -> None:
    sr = build_level_sr(
        sources, RANGES[:1], model_name="m", model_version="1",
        series_instance_uid="2.25.1", sop_instance_uid="2.25.2", series_number=991,
    )  # fmt: skip
    assert (sr.SeriesInstanceUID, sr.SOPInstanceUID, sr.SeriesNumber) == ("2.25.1", "2.25.2", 991)


def test_every_level_and_transitional_name_has_a_snomed_site() -> None:
    assert set(LEVEL_SITES) == set(FINE_LEVELS) | set(TRANSITIONAL)
    assert {site.scheme_designator for site in LEVEL_SITES.values()} == {"SCT"}
    assert LEVEL_SITES["L3"].value == "36470004"
    assert LEVEL_SITES["T13"].value == "1186895000"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"level": "L7"}, "unknown level"),
        ({"mid": 0}, "first <= mid"),
        ({"last": 12}, "last < 12"),
        ({"confidence": 1.5}, "confidence"),
    ],
)
def test_bad_ranges_are_rejected(
    sources: list[Dataset], change: dict[str, object], message: str
) -> None:
    bad = {**RANGES[1], **change}
    with pytest.raises(ValueError, match=message):
        build_level_sr(sources, [bad], model_name="m", model_version="1")  # type: ignore[list-item]


def test_no_ranges_mixed_series_and_bad_flags_are_rejected(sources: list[Dataset]) -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_level_sr(sources, [], model_name="m", model_version="1")
    other = copy.deepcopy(sources[0])
    other.SeriesInstanceUID = "2.25.3"
    with pytest.raises(ValueError, match="one series"):
        build_level_sr([*sources[:-1], other], RANGES, model_name="m", model_version="1")
    with pytest.raises(ValueError, match="flag codes"):
        build_level_sr(sources, RANGES, model_name="m", model_version="1", flags=[("a: b", "")])


@pytest.mark.skipif(shutil.which("dsrdump") is None, reason="DCMTK's dsrdump is not installed")
def test_dcmtk_reads_it_without_complaint(sr_bytes: bytes, tmp_path: Path) -> None:
    path = tmp_path / "levels.dcm"
    path.write_bytes(sr_bytes)
    done = subprocess.run(["dsrdump", "-v", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stderr.splitlines() if line[:2] in {"W:", "E:"}]
    assert '(36470004,SCT,"L3 vertebra")' not in done.stdout  # no L3 range here
    assert '(23215003,SCT,"T12 vertebra")' in done.stdout
    assert 'TEXT:(,,"Tracking Identifier")="L6"' in done.stdout
