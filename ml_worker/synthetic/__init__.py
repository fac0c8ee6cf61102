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

# Anatomical phantom: level-dependent anatomy with per-slice labels and tissue masks.
from ml_worker.synthetic.anatomy import TRANSITIONAL_VARIANTS, Anatomy, make_anatomy  # noqa: E402
from ml_worker.synthetic.phantom import (  # noqa: E402
    COMPARTMENTS,
    FOVS,
    HU_WINDOWS,
    PhantomCase,
    Tissue,
    make_phantom,
    render_slice,
)
from ml_worker.synthetic.phantom_dataset import (  # noqa: E402
    PhantomSliceDataset,
    iter_training_slices,
    write_phantom_dataset,
)

__all__ += [
    "COMPARTMENTS",
    "FOVS",
    "HU_WINDOWS",
    "TRANSITIONAL_VARIANTS",
    "Anatomy",
    "PhantomCase",
    "PhantomSliceDataset",
    "Tissue",
    "iter_training_slices",
    "make_anatomy",
    "make_phantom",
    "render_slice",
    "write_phantom_dataset",
]
