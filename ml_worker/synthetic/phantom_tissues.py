"""Phantom label tables: `Tissue` codes, their published HU windows, the
body-composition compartments, and `STRUCTURES`, the painted structures
(name, tissue, material) whose index is the structure id (`ID`).
"""

from __future__ import annotations

from enum import IntEnum

from ml_worker.synthetic.volume import HU_MAX, HU_MIN


class Tissue(IntEnum):
    """Tissue label codes of `PhantomCase.tissues` and `render_slice`."""

    AIR = 0  # outside the body, and gas inside it (airway, bowel, stomach)
    MUSCLE = 1  # skeletal muscle, diaphragm included
    IMAT = 2  # intermuscular fat: fat inside the muscle fascia
    SAT = 3  # subcutaneous fat
    VAT = 4  # visceral fat: abdominal, pelvic, mediastinal and deep neck fat
    BONE = 5  # cortical and cancellous bone, calcified cartilage
    LUNG = 6
    OTHER = 7  # organs, blood, bowel, discs, CSF


# Published HU windows (body composition: muscle -29..150, fat -190..-30,
# visceral -150..-50). Rendered HU of each tissue always fall inside its window,
# and the windows of muscle, fat and visceral fat exclude every other tissue
# that shares their compartment.
HU_WINDOWS: dict[Tissue, tuple[int, int]] = {
    Tissue.AIR: (HU_MIN, -901),
    Tissue.MUSCLE: (-29, 150),
    Tissue.IMAT: (-190, -30),
    Tissue.SAT: (-190, -30),
    Tissue.VAT: (-150, -50),
    Tissue.BONE: (150, HU_MAX),
    Tissue.LUNG: (-900, -700),
    Tissue.OTHER: (-29, HU_MAX),
}
# Which tissue labels make up each body-composition compartment.
COMPARTMENTS: dict[str, frozenset[Tissue]] = {
    "muscle": frozenset({Tissue.MUSCLE, Tissue.IMAT}),
    "subcutaneous": frozenset({Tissue.SAT}),
    "visceral": frozenset({Tissue.VAT, Tissue.OTHER}),
}


_T = Tissue
STRUCTURES: tuple[tuple[str, Tissue, str], ...] = (
    ("outside", _T.AIR, "air"), ("sat", _T.SAT, "fat"), ("muscle", _T.MUSCLE, "muscle"),
    ("paraspinal", _T.MUSCLE, "muscle"), ("psoas", _T.MUSCLE, "muscle"),
    ("diaphragm", _T.MUSCLE, "muscle"), ("imat", _T.IMAT, "imat"), ("vat", _T.VAT, "vat"),
    ("mediastinal_fat", _T.VAT, "vat"), ("perirenal_fat", _T.VAT, "vat"), ("lung", _T.LUNG, "lung"),
    ("gas", _T.AIR, "air"), ("vb_cortex", _T.BONE, "cortical"),
    ("vb_marrow", _T.BONE, "cancellous"),
    ("endplate", _T.BONE, "endplate"), ("arch", _T.BONE, "cortical"),
    ("arch_marrow", _T.BONE, "cancellous"), ("sacrum", _T.BONE, "cortical"),
    ("sacrum_marrow", _T.BONE, "cancellous"), ("rib_cortex", _T.BONE, "cortical"),
    ("rib_marrow", _T.BONE, "cancellous"), ("rib_head", _T.BONE, "cortical"),
    ("cartilage", _T.BONE, "cartilage"), ("iliac_cortex", _T.BONE, "cortical"),
    ("iliac_marrow", _T.BONE, "cancellous"), ("bone_cortex", _T.BONE, "cortical"),
    ("bone_marrow", _T.BONE, "cancellous"), ("disc", _T.OTHER, "disc"), ("csf", _T.OTHER, "csf"),
    ("cord", _T.OTHER, "cord"), ("liver", _T.OTHER, "liver"), ("spleen", _T.OTHER, "spleen"),
    ("kidney", _T.OTHER, "kidney"), ("blood", _T.OTHER, "blood"), ("heart", _T.OTHER, "myocardium"),
    ("bowel", _T.OTHER, "bowel"), ("fluid", _T.OTHER, "fluid"), ("soft", _T.OTHER, "soft"),
    ("thyroid", _T.OTHER, "thyroid"),
)  # fmt: skip
ID = {name: index for index, (name, _, _) in enumerate(STRUCTURES)}
