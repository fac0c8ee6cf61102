"""Synthetic CT test data: phantom volumes, canary identities and DICOM writers."""

from ml_worker.synthetic.dicom_writer import (
    PHI_DATE_KEYWORDS,
    PHI_TEXT_KEYWORDS,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    TRANSFER_SYNTAXES,
    default_study_uid,
    resolve_transfer_syntax,
    write_ct_series,
    write_dose_report,
    write_secondary_capture,
)
from ml_worker.synthetic.identity import (
    CANARY_PATTERN,
    CANARY_PREFIX,
    SyntheticPatient,
    SyntheticStudy,
    canary,
    canary_strings,
    make_patient,
    make_study,
)
from ml_worker.synthetic.volume import CTVolume, make_ct_volume

__all__ = [
    "CANARY_PATTERN",
    "CANARY_PREFIX",
    "PHI_DATE_KEYWORDS",
    "PHI_TEXT_KEYWORDS",
    "PRIVATE_CREATOR",
    "PRIVATE_GROUP",
    "TRANSFER_SYNTAXES",
    "CTVolume",
    "SyntheticPatient",
    "SyntheticStudy",
    "canary",
    "canary_strings",
    "default_study_uid",
    "make_ct_volume",
    "make_patient",
    "make_study",
    "resolve_transfer_syntax",
    "write_ct_series",
    "write_dose_report",
    "write_secondary_capture",
]
