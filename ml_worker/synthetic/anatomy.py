"""Per-patient anatomy for the CT phantom: spine, landmarks, body build, materials.

Coordinates are patient mm in DICOM LPS: x grows to the patient's left, y
posteriorly, z superiorly; z = 0 is the top of C1, so the trunk lies at z < 0.
Position along the spine is the level coordinate `u`: segment i (C1 = 0 ...
T1 = 7 ... L1 = 19 ... sacrum = 24 in a typical spine) spans u in [i, i + 1),
vertebral body then the disc below. Organs are placed in a *standard* level
coordinate (that of a 7-12-5 spine) and mapped onto the patient's spine so that
T1..T12 and L1..L5 keep their standard relations (ribs, organs, crests) in a
transitional spine too: an extra vertebra (T13, L6) takes a narrow band of the
standard coordinate at its junction instead of stretching its neighbours, so no
normal vertebra looks like the one next to it.

Figures follow the reference table in the architecture document (body heights,
discs, widths, landmark levels); each patient varies around them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TRANSITIONAL_VARIANTS = ("T13", "L6", "lumbarised_S1", "sacralised_L5")
SACRAL_LABEL = "Sacral"
CERVICAL_LABEL = "Cervical"

# Reference heights (mm, 1.70 m adult) of C1..C7 bodies and the disc below each;
# C1/C2 have no disc between them (atlanto-axial joint).
_CERVICAL_HEIGHT = (12.0, 20.0, 14.0, 14.0, 14.5, 14.5, 15.0)
_CERVICAL_DISC = (0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0)
_CERVICAL_WIDTH = (18.0, 18.0, 17.0, 18.0, 19.0, 21.0, 23.0)
_LUMBAR_HEIGHT = (25.0, 26.0, 27.0, 27.5, 27.0, 26.0)
_LUMBAR_DISC = (10.0, 11.0, 11.5, 12.0, 11.0, 10.0)
_LUMBAR_TP = (20.0, 25.0, 30.0, 26.0, 22.0, 22.0)

# Ribs: how far (standard levels) each bony rib descends from its head to its
# anterior end, the level of the costal cartilage's sternal or costal end (ribs
# 1-10; 11-13 float), and the angles from the posterior midline where the bone
# gives way to cartilage and where the cartilage ends.
_RIB_DROP = (1.9, 2.6, 3.0, 3.3, 3.4, 3.5, 3.5, 3.5, 3.4, 3.2, 2.2, 1.4, 1.3)
_RIB_END_U = (8.9, 10.5, 11.3, 12.0, 12.8, 13.8, 15.0, 16.7, 17.6, 18.6)
_RIB_PSI_END = (2.95, 2.95, 2.95, 2.95, 2.95, 2.95, 2.9, 2.75, 2.6, 2.45, 1.9, 1.35, 1.15)
_RIB_PSI_BONE = (2.45, 2.4, 2.4, 2.4, 2.35, 2.35, 2.3, 2.25, 2.25, 2.25, 1.9, 1.35, 1.15)
_LOWEST_RIB_U = 19.75  # no rib reaches L2: the lumbar spine below L1 is rib-free

# Landmarks in the standard level coordinate: (mean, sd) per patient.
_LANDMARKS: dict[str, tuple[float, float]] = {
    "lung_apex": (6.4, 0.25),
    "clavicle": (7.3, 0.25),
    "scapula_top": (7.8, 0.3),
    "scapula_bottom": (13.2, 0.3),
    "manubrium": (8.3, 0.25),
    "sternal_angle": (10.4, 0.25),
    "xiphoid": (16.0, 0.3),
    "aortic_arch": (10.2, 0.25),
    "carina": (10.8, 0.25),
    "heart_top": (11.2, 0.3),
    "heart_bottom": (16.0, 0.3),
    "dome_right": (15.4, 0.4),
    "lung_base": (19.0, 0.25),
    "liver_tip": (21.0, 0.5),
    "stomach_bottom": (19.8, 0.4),
    "spleen_bottom": (19.0, 0.3),
    "kidney_right": (18.9, 0.3),
    "psoas_top": (18.7, 0.25),
    "crest": (22.35, 0.2),
    "bifurcation": (22.6, 0.3),
    "bladder_top": (24.8, 0.15),
}


@dataclass(frozen=True)
class Segment:
    """One vertebra (or the sacrum with everything below it) and the disc below."""

    name: str  # "C3", "T13", "L6", "S"
    label: str  # per-slice label: "Cervical", "T4", "T13", "L6", "Sacral"
    kind: str  # "cervical" | "thoracic" | "lumbar" | "sacral"
    top_z: float  # superior endplate
    bottom_z: float  # inferior endplate
    next_top_z: float  # superior endplate of the next segment; the disc lies between
    width: float  # body, left-right
    depth: float  # body, antero-posterior
    canal_w: float
    canal_d: float
    spinous: float  # spinous process length behind the canal
    tp_len: float  # transverse process length beyond the pedicle
    fused: bool = False  # sacralised L5: transverse processes merge with the sacral ala


@dataclass(frozen=True)
class Rib:
    number: int
    head_z: float  # costovertebral joint
    bone_z: float  # anterior end of the bone: ribs slope down and forward
    end_z: float  # end of the costal cartilage, which climbs back to the sternum
    psi_bone: float
    psi_end: float


@dataclass(frozen=True, eq=False)
class Anatomy:
    """One patient: spine, ribs, landmarks (standard levels), build and materials."""

    seed: int
    sex: str
    age: int
    height_m: float
    bmi: float
    transitional: str | None
    segments: tuple[Segment, ...]
    ribs: tuple[Rib, ...]
    sacrum_length: float
    landmarks: dict[str, float]
    centre: tuple[float, float]  # polar centre of the body outline (x, y)
    lr_scale: float
    ap_scale: float
    sat_mm: float  # subcutaneous fat at the waist, laterally
    vat: float  # visceral fat, 0 (none) .. ~1.5 (abdominal obesity)
    muscle: float  # muscle bulk relative to a typical adult of that sex
    imat: float  # fraction of fat streaks within paraspinal muscles
    breast_mm: float
    noise_sd: float
    materials: dict[str, float]
    bowel: np.ndarray  # [n, 7]: nx, ny, z, rx, ry, rz, kind (0 fluid, 1 gas, 2 mixed)
    _u: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    _z: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    _std: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    _act: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))

    @property
    def sacral_index(self) -> int:
        return len(self.segments) - 1

    @property
    def first_lumbar_index(self) -> int:
        return next(i for i, s in enumerate(self.segments) if s.kind == "lumbar")

    def u_of_z(self, z: float) -> float:
        return float(np.interp(-z, -self._z, self._u))

    def z_of_u(self, u: float) -> float:
        return float(np.interp(u, self._u, self._z))

    def std_of_u(self, u: float) -> float:
        return float(np.interp(u, self._act, self._std))

    def z_of_std(self, u_std: float) -> float:
        return self.z_of_u(float(np.interp(u_std, self._std, self._act)))

    def z_of_std_array(self, u_std: np.ndarray) -> np.ndarray:
        return np.interp(np.interp(u_std, self._std, self._act), self._u, self._z)

    def std_of_z(self, z: float) -> float:
        return self.std_of_u(self.u_of_z(z))

    def segment_index(self, z: float) -> int:
        """Index of the segment whose body or lower disc contains z (0 above C1)."""
        tops = self._z[1 : 1 + len(self.segments)]
        return max(int(np.searchsorted(-tops, -z, side="right")) - 1, 0)

    def level_at(self, z: float) -> str | None:
        """The label of a slice centred at z: the vertebra whose body it crosses,
        None inside a disc; everything above C1 is Cervical, below S1 Sacral."""
        segment = self.segments[self.segment_index(z)]
        if segment.kind in ("sacral",) or z > segment.top_z:
            return segment.label
        return segment.label if z > segment.bottom_z else None

    def body_range(self, label: str) -> tuple[float, float]:
        """(top, bottom) z of a labelled vertebral body; the sacrum's is its length."""
        matches = [s for s in self.segments if s.name == label] or [
            s for s in self.segments if s.label == label and s.kind != "cervical"
        ]
        for segment in matches:
            if segment.kind == "sacral":
                return segment.top_z, segment.top_z - self.sacrum_length
            return segment.top_z, segment.bottom_z
        raise KeyError(label)


def make_anatomy(
    seed: int,
    *,
    transitional: str | None = None,
    sex: str | None = None,
    height_m: float | None = None,
    bmi: float | None = None,
    age: int | None = None,
) -> Anatomy:
    """Sample one patient. Sex, height, BMI and age default to realistic draws;
    pass them to match an identity (identity.make_patient) written to DICOM."""
    if transitional not in (None, *TRANSITIONAL_VARIANTS):
        raise ValueError(f"transitional must be one of {TRANSITIONAL_VARIANTS} or None")
    rng = np.random.default_rng([seed, 0x5EED])
    sex = sex or str(rng.choice(["M", "F"]))
    age = int(age if age is not None else rng.integers(25, 86))
    mean_h = 1.76 if sex == "M" else 1.63
    height_m = float(height_m or np.clip(rng.normal(mean_h, 0.07), 1.45, 2.05))
    bmi = float(bmi or np.clip(rng.normal(26.0, 4.0), 17.0, 42.0))
    k_h = height_m / 1.70
    k_w = k_h**0.6 * (1.04 if sex == "M" else 0.93)
    segments, sacrum_length = _spine(seed, rng, k_h, k_w, transitional)
    u_knots, z_knots = _level_knots(segments, sacrum_length)
    std, act = _standard_knots(segments)
    landmarks = {name: float(rng.normal(m, s)) for name, (m, s) in _LANDMARKS.items()}
    landmarks["crest"] = max(landmarks["crest"], 22.05)  # crests at or below L4
    landmarks["dome_left"] = landmarks["dome_right"] + float(rng.uniform(0.2, 0.6))
    fat = float(np.clip((bmi - 17.0) / 12.0, 0.0, 2.2))  # 0 lean .. ~2 obese
    anatomy = Anatomy(
        seed=seed,
        sex=sex,
        age=age,
        height_m=height_m,
        bmi=bmi,
        transitional=transitional,
        segments=segments,
        ribs=(),
        sacrum_length=sacrum_length,
        landmarks=landmarks,
        centre=(float(rng.uniform(-12, 12)), float(rng.uniform(-25, 5))),
        lr_scale=k_w * float(rng.normal(1.0, 0.04)) * (1 + 0.06 * fat),
        ap_scale=k_w * float(rng.normal(1.0, 0.05)) * (1 + 0.04 * fat),
        sat_mm=float(np.clip(4 + 16 * fat * (1.35 if sex == "F" else 0.85), 3, 60)),
        vat=float(np.clip(fat * (1.0 if sex == "M" else 0.6) + rng.normal(0, 0.15), 0, 1.6)),
        muscle=float(np.clip(rng.normal(1.0, 0.1) - 0.004 * max(age - 40, 0), 0.6, 1.35)),
        imat=float(
            np.clip(0.01 + 0.0012 * (age - 25) + 0.015 * fat + rng.normal(0, 0.008), 0, 0.12)
        ),
        breast_mm=float(rng.uniform(15, 40) * (0.6 + 0.4 * fat)) if sex == "F" else 0.0,
        noise_sd=float(rng.uniform(8.0, 12.0)),
        materials=_materials(rng, age, bmi),
        bowel=np.zeros((0, 7)),
        _u=u_knots,
        _z=z_knots,
        _std=std,
        _act=act,
    )
    # Ribs draw from their own stream: a 13th rib must not shift the draws after it.
    ribs = _ribs(anatomy, np.random.default_rng([seed, 0x5EED, 2]))
    if transitional == "T13":  # ribs 1-12 as without T13 (same mm course), plus a 13th
        twin = make_anatomy(seed, sex=sex, height_m=height_m, bmi=bmi, age=age)
        ribs = (*twin.ribs, ribs[-1])  # the 13th floats, shorter round than the 12th
    object.__setattr__(anatomy, "ribs", ribs)
    object.__setattr__(anatomy, "bowel", _bowel(anatomy, rng))
    return anatomy


# Every vertebra name a spine can have, for a per-vertebra random stream.
_VERTEBRA_IDS = {
    name: i
    for i, name in enumerate(
        [f"C{k}" for k in range(1, 8)]
        + [f"T{k}" for k in range(1, 14)]
        + [f"L{k}" for k in range(1, 7)]
    )
}


def _spine(
    seed: int, rng: np.random.Generator, k_h: float, k_w: float, transitional: str | None
) -> tuple[tuple[Segment, ...], float]:
    n_thoracic = 13 if transitional == "T13" else 12
    n_lumbar = 6 if transitional in ("L6", "lumbarised_S1") else 5
    specs = [_cervical(i) for i in range(1, 8)]
    specs += [_thoracic(k) for k in range(1, n_thoracic + 1)]
    specs += [_lumbar(k, n_lumbar) for k in range(1, n_lumbar + 1)]
    if transitional == "sacralised_L5":
        specs[-1] = {**specs[-1], "disc": 2.0, "fused": True}
    sacrum_length = float(rng.normal(100.0, 6.0)) * k_h
    if transitional == "lumbarised_S1":
        sacrum_length *= 0.8  # S1 became L6: four sacral segments remain
    top = 0.0
    segments: list[Segment] = []
    for spec in specs:
        # Per-vertebra streams: T1..T12 and L1..L5 are the same with or without an extra one.
        jitter = np.random.default_rng([seed, 0x5EED, 1, _VERTEBRA_IDS[spec["name"]]])
        height = spec["height"] * k_h * float(jitter.uniform(0.96, 1.04))
        disc = spec["disc"] * k_h * float(jitter.uniform(0.88, 1.12))
        segments.append(
            Segment(
                name=spec["name"],
                label=spec["label"],
                kind=spec["kind"],
                top_z=top,
                bottom_z=top - height,
                next_top_z=top - height - disc,
                width=spec["width"] * k_w,
                depth=spec["depth"] * k_w,
                canal_w=spec["canal_w"] * k_w**0.5,
                canal_d=spec["canal_d"] * k_w**0.5,
                spinous=spec["spinous"] * k_w,
                tp_len=spec["tp_len"] * k_w,
                fused=bool(spec.get("fused", False)),
            )
        )
        top = top - height - disc
    # The sacral "segment" carries the label of everything below L5/S1.
    segments.append(
        Segment("S", SACRAL_LABEL, "sacral", top, top - 1000.0, top - 1000.0,
                50 * k_w, 30 * k_w, 22 * k_w**0.5, 12 * k_w**0.5, 18 * k_w, 30 * k_w)
    )  # fmt: skip
    return tuple(segments), sacrum_length


def _cervical(i: int) -> dict[str, Any]:
    return {
        "name": f"C{i}", "label": CERVICAL_LABEL, "kind": "cervical",
        "height": _CERVICAL_HEIGHT[i - 1], "disc": _CERVICAL_DISC[i - 1],
        "width": _CERVICAL_WIDTH[i - 1], "depth": 15.0 + 0.2 * i, "canal_w": 24.0,
        "canal_d": 15.0, "spinous": 30.0 if i == 7 else 16.0 + i, "tp_len": 10.0,
    }  # fmt: skip


def _thoracic(k: int) -> dict[str, Any]:
    t = (min(k, 12) - 1) / 11
    extra = 1.0 if k == 13 else 0.0  # a T13 sits between T12 and L1 in size
    return {
        "name": f"T{k}", "label": f"T{k}", "kind": "thoracic",
        "height": 16.0 + 7.0 * t + extra, "disc": 4.0 + 2.0 * t + (1.5 if k >= 12 else 0.0),
        "width": 26.0 + 16.0 * t + extra, "depth": 16.0 + 12.0 * t + extra,
        "canal_w": 17.0 + 3.0 * t, "canal_d": 16.0, "spinous": 40.0 - 6.0 * t,
        "tp_len": 26.0 - 12.0 * t,
    }  # fmt: skip


def _lumbar(k: int, n: int) -> dict[str, Any]:
    # The last lumbar vertebra always has L5 proportions; an L6 adds one below.
    j = min(k, 5) - 1
    return {
        "name": f"L{k}", "label": f"L{k}", "kind": "lumbar",
        "height": _LUMBAR_HEIGHT[j], "disc": _LUMBAR_DISC[j if k < n else 4],
        "width": 44.0 + 2.0 * j, "depth": 30.0 + 1.25 * j, "canal_w": 22.0 + 0.8 * j,
        "canal_d": 17.0, "spinous": 34.0, "tp_len": _LUMBAR_TP[j],
    }  # fmt: skip


def _level_knots(
    segments: tuple[Segment, ...], sacrum_length: float
) -> tuple[np.ndarray, np.ndarray]:
    """u -> z knots: segment tops at integer u, the sacrum spanning one unit of
    its own length, linear beyond both ends."""
    n = len(segments)
    tops = [s.top_z for s in segments]
    c1 = segments[0].top_z - segments[1].top_z
    s_top = segments[-1].top_z
    u = [-20.0, *range(n), float(n), n + 20.0]
    z = [20.0 * c1, *tops, s_top - sacrum_length, s_top - 21.0 * sacrum_length]
    u_arr, z_arr = np.asarray(u, dtype=float), np.asarray(z, dtype=float)
    return u_arr, z_arr


# Half-width (standard levels) of the band an extra vertebra takes at its junction.
_EXTRA_BAND = 0.06


def _standard_knots(segments: tuple[Segment, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Standard <-> actual level knots. T1..T12 and L1..L5 map onto their own
    standard levels; a T13 is squeezed into the T12/L1 junction and an L6 into
    the L5/S1 one (std 19 and 24), so the organs stay with the normal vertebrae."""
    first_lumbar = next(i for i, s in enumerate(segments) if s.kind == "lumbar")
    sacral = len(segments) - 1
    std, act = [-30.0, 7.0], [-30.0, 7.0]
    for junction, start, count, normal in (
        (19.0, 7, first_lumbar - 7, 12),
        (24.0, first_lumbar, sacral - first_lumbar, 5),
    ):
        end = start + normal  # top of the extra vertebra, or of the next region
        std.append(junction - 1.0)  # only the vertebrae next to the band give it room
        act.append(float(end - 1))
        if count > normal:
            std += [junction - _EXTRA_BAND, junction + _EXTRA_BAND, junction + 1.0]
            act += [float(end), float(end + 1), float(end + 2)]
        else:
            std.append(junction)
            act.append(float(end))
    std.append(54.0)
    act.append(sacral + 30.0)
    return np.asarray(std), np.asarray(act)


def _ribs(anatomy: Anatomy, rng: np.random.Generator) -> tuple[Rib, ...]:
    ribs = []
    thoracic = [s for s in anatomy.segments if s.kind == "thoracic"]
    for k, segment in enumerate(thoracic, start=1):
        head = segment.top_z - 0.15 * (segment.top_z - segment.bottom_z)
        lowest = anatomy.std_of_z(head) + _RIB_DROP[k - 1] + float(rng.normal(0, 0.12))
        bone = min(anatomy.z_of_std(min(lowest, _LOWEST_RIB_U)), head - 15.0)
        end = bone
        if k <= 10:  # costal cartilage up to the sternum or the costal margin
            end = max(anatomy.z_of_std(_RIB_END_U[k - 1] + float(rng.normal(0, 0.12))), bone)
        ribs.append(Rib(k, head, bone, end, _RIB_PSI_BONE[k - 1], _RIB_PSI_END[k - 1]))
    return tuple(ribs)


def _bowel(anatomy: Anatomy, rng: np.random.Generator) -> np.ndarray:
    """Small-bowel loops and colon segments as ellipsoids in normalised cavity
    coordinates (nx, ny in -1..1), so they follow the cavity as it changes."""
    n = int(rng.integers(26, 40))
    u_std = rng.uniform(19.6, 25.4, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = np.sqrt(rng.uniform(0.0, 1.0, n)) * 0.72
    nx = radius * np.cos(angle)
    ny = np.clip(radius * np.sin(angle) - 0.15, -0.8, 0.35)
    z = np.asarray([anatomy.z_of_std(float(u)) for u in u_std])
    rx, ry = rng.uniform(10, 20, n), rng.uniform(9, 17, n)
    rz = rng.uniform(14, 32, n)
    kind = rng.choice([0, 1, 2], n, p=[0.4, 0.15, 0.45])
    return np.stack([nx, ny, z, rx, ry, rz, kind], axis=1)


def _materials(rng: np.random.Generator, age: int, bmi: float) -> dict[str, float]:
    """Mean HU per material; each stays inside its published tissue range."""
    n = rng.normal
    return {
        "air": -1000.0,
        "fat": float(n(-100, 5)),
        "vat": float(np.clip(n(-98, 4), -105, -90)),
        "imat": float(n(-88, 6)),
        "muscle": float(np.clip(n(48 - 0.25 * (age - 40) - 0.6 * (bmi - 25), 5), 22, 60)),
        "lung": float(n(-840, 15)),
        "cortical": float(np.clip(n(1050, 120), 750, 1450)),
        "cancellous": float(np.clip(n(320 - 2.6 * (age - 30), 20), 195, 390)),
        "endplate": float(n(560, 40)),
        "cartilage": float(n(230, 20)),
        "disc": float(n(85, 8)),
        "csf": float(n(14, 3)),
        "cord": float(n(32, 3)),
        "liver": float(np.clip(n(60, 4), 50, 70)),
        "spleen": float(n(48, 3)),
        "kidney": float(n(31, 3)),
        "blood": float(n(41, 3)),
        "myocardium": float(n(46, 3)),
        "bowel": float(n(28, 4)),
        "fluid": float(n(10, 2)),
        "soft": float(n(40, 4)),
        "thyroid": float(n(95, 8)),
    }


# Body build along the standard level coordinate for a reference adult (mm):
# half-width and front/back half-depths of the musculoskeletal frame (the body
# less its subcutaneous fat), the muscle wall thickness, and the gap between the
# back of the frame and the spinous process tips.
_S = np.asarray([-2, 3, 5.5, 6.3, 7, 8, 10, 13, 16, 18.5, 19.5, 21, 22.5, 24, 24.6, 25.2, 27.0])
_KNOTS: dict[str, tuple[float, ...]] = {
    "a": (52, 54, 60, 82, 118, 138, 146, 148, 145, 140, 136, 133, 138, 146, 150, 150, 148),
    "b_ant": (50, 50, 52, 58, 72, 88, 97, 100, 100, 98, 96, 95, 93, 90, 86, 82, 80),
    "b_post": (66, 66, 68, 72, 82, 90, 95, 96, 95, 92, 90, 90, 92, 94, 96, 96, 94),
    "p": (2.0, 2.0, 2.0, 2.1, 2.2, 2.3, 2.3, 2.3, 2.3, 2.4, 2.5, 2.5, 2.6, 2.7, 2.7, 2.7, 2.7),
    "wall_ant": (4, 4, 5, 14, 28, 32, 26, 18, 14, 12, 12, 12, 12, 12, 12, 12, 12),
    "wall_lat": (6, 7, 8, 40, 60, 45, 28, 22, 20, 18, 18, 20, 24, 30, 34, 34, 34),
    "wall_post": (8, 8, 9, 20, 36, 34, 30, 26, 20, 12, 10, 10, 10, 14, 24, 30, 34),
    "sat": (
        0.25,
        0.25,
        0.3,
        0.4,
        0.5,
        0.55,
        0.6,
        0.7,
        0.85,
        0.95,
        1,
        1,
        1.05,
        1.15,
        1.25,
        1.3,
        1.3,
    ),
    "back_gap": (28, 28, 27, 22, 14, 12, 10, 10, 10, 10, 10, 10, 12, 18, 22, 26, 26),
}


@dataclass(frozen=True)
class Section:
    """Scalar dimensions of the body at one axial level (mm, patient frame)."""

    z: float
    u: float  # actual level coordinate
    s: float  # standard level coordinate
    a: float
    b_ant: float
    b_post: float
    p: float
    sat_ant: float
    sat_lat: float
    sat_post: float
    wall_ant: float
    wall_lat: float
    wall_post: float
    rib_layer: float
    spine_x: float
    spine_y: float  # vertebral body centre
    width: float
    depth: float
    canal_w: float
    canal_d: float
    spinous: float


def section(anatomy: Anatomy, z: float) -> Section:
    """Body build at height z: frame, fat and wall from the standard profiles,
    scaled to the patient; the spine is placed from the back inwards."""
    u = anatomy.u_of_z(z)
    s = anatomy.std_of_u(u)
    k = {name: float(np.interp(s, _S, values)) for name, values in _KNOTS.items()}
    # Visceral fat distends the abdomen forwards and a little sideways.
    belly = anatomy.vat * 38.0 * float(np.exp(-(((s - 21.5) / 2.2) ** 2)))
    a = k["a"] * anatomy.lr_scale + 0.35 * belly
    b_ant = k["b_ant"] * anatomy.ap_scale + belly
    b_post = k["b_post"] * anatomy.ap_scale
    hips = 1.3 if anatomy.sex == "F" and s > 22.0 else 1.0
    sat = anatomy.sat_mm * k["sat"] * hips
    muscle = anatomy.muscle
    rib_layer = 8.0 * anatomy.lr_scale if 6.8 < s < 20.0 else 0.0
    spine = _spine_at(anatomy, u)
    cx, cy = anatomy.centre
    spine_y = cy + b_post - k["back_gap"] - spine["spinous"] - spine["canal_d"] - spine["depth"] / 2
    return Section(
        z=z, u=u, s=s, a=a, b_ant=b_ant, b_post=b_post, p=k["p"],
        sat_ant=sat * 1.15, sat_lat=sat, sat_post=sat * 0.85,
        wall_ant=rib_layer + k["wall_ant"] * muscle,
        wall_lat=rib_layer + k["wall_lat"] * muscle,
        wall_post=rib_layer + k["wall_post"] * muscle,
        rib_layer=rib_layer, spine_x=cx, spine_y=spine_y, **spine,
    )  # fmt: skip


def _spine_at(anatomy: Anatomy, u: float) -> dict[str, float]:
    # Interpolated between segment mid-heights so the spine bends smoothly.
    mids = np.arange(len(anatomy.segments)) + 0.4
    out = {}
    for name in ("width", "depth", "canal_w", "canal_d", "spinous"):
        values = [getattr(segment, name) for segment in anatomy.segments]
        out[name] = float(np.interp(u, mids, values))
    return out
