"""Content tree of the synthetic X-Ray Radiation Dose SR (TID 10011 outline):
coded concepts, numeric measurements and a canary comment.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from ml_worker.synthetic.dicom_attributes import _ds, _Series
from ml_worker.synthetic.identity import canary


def _dose_content(series: _Series, dlp_mgy_cm: float) -> list[Dataset]:
    procedure = _item("HAS CONCEPT MOD", "CODE", _code("121058", "DCM", "Procedure reported"))
    procedure.ConceptCodeSequence = [_code("77477000", "SCT", "Computed Tomography X-Ray")]
    observer = _item("HAS OBS CONTEXT", "PNAME", _code("121008", "DCM", "Person Observer Name"))
    observer.PersonName = series.study.observer_name
    accumulated = _item("CONTAINS", "CONTAINER", _code("113811", "DCM", "CT Accumulated Dose Data"))
    accumulated.ContinuityOfContent = "SEPARATE"
    accumulated.ContentSequence = [
        _num("113812", "Total Number of Irradiation Events", 1, ("{events}", "events")),
        _num("113813", "CT Dose Length Product Total", dlp_mgy_cm, ("mGy.cm", "mGy.cm")),
    ]
    comment = _item("CONTAINS", "TEXT", _code("121106", "DCM", "Comment"))
    comment.TextValue = canary("DoseReportComment", series.patient.index)
    return [procedure, observer, accumulated, comment]


def _num(code: str, meaning: str, value: float, unit: tuple[str, str]) -> Dataset:
    item = _item("CONTAINS", "NUM", _code(code, "DCM", meaning))
    measured = Dataset()
    measured.NumericValue = _ds(value)
    measured.MeasurementUnitsCodeSequence = [_code(unit[0], "UCUM", unit[1])]
    item.MeasuredValueSequence = [measured]
    return item


def _item(relationship: str, value_type: str, concept: Dataset) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [concept]
    return item


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = scheme
    code.CodeMeaning = meaning
    return code
