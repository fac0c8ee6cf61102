"""Anatomical phantom: level labels, level-dependent anatomy, HU and tissue masks,
fields of view, transitional spines and datasets written to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from ml_worker.levels import FINE_LEVELS, NUM_CLASSES
from ml_worker.synthetic import (
    COMPARTMENTS,
    FOVS,
    HU_WINDOWS,
    Anatomy,
    PhantomCase,
    PhantomSliceDataset,
    Tissue,
    iter_training_slices,
    make_anatomy,
    make_phantom,
    render_slice,
    write_phantom_dataset,
)
from ml_worker.synthetic.phantom import render_parts
from ml_worker.synthetic.phantom_dataset import CASES_NAME, read_manifest

ROWS = 80
BODY = ("vb_cortex", "vb_marrow", "endplate")
RIB = ("rib_cortex", "rib_marrow", "rib_head", "cartilage")


@pytest.fixture(scope="module")
def trunk() -> PhantomCase:
    return make_phantom(3, fov="trunk", rows=ROWS, cols=ROWS, slice_thickness_mm=4.0)


@pytest.fixture(scope="module")
def anatomy(trunk: PhantomCase) -> Anatomy:
    return trunk.anatomy


def _parts(anatomy: Anatomy, z: float, rows: int = 128, spacing: float = 3.2) -> dict:
    return render_parts(anatomy, z, rows=rows, cols=rows, pixel_spacing_mm=spacing)


def _area(parts: dict, names: tuple[str, ...]) -> int:
    return int(sum(parts[name].sum() for name in names if name in parts))


def _mid(anatomy: Anatomy, label: str) -> float:
    top, bottom = anatomy.body_range(label)
    return (top + bottom) / 2


def _levels(anatomy: Anatomy, z_values: np.ndarray) -> list[str | None]:
    return [anatomy.level_at(float(z)) for z in z_values]


def _runs(levels: list[str | None]) -> list[str]:
    """Labels in slice order with repeats and disc gaps collapsed."""
    runs: list[str] = []
    for level in levels:
        if level is not None and (not runs or runs[-1] != level):
            runs.append(level)
    return runs


def test_labels_run_head_to_feet_once_per_vertebra(trunk: PhantomCase) -> None:
    runs = _runs(trunk.levels)
    assert len(runs) == len(set(runs)), "a vertebra's slices must be contiguous"
    assert runs == [level for level in FINE_LEVELS if level in runs]
    assert runs == list(FINE_LEVELS)  # a trunk series covers every class
    assert trunk.volume.shape == (len(trunk.levels), ROWS, ROWS)
    assert np.all(np.diff(trunk.volume.slice_positions_mm) < 0)  # slice 0 most superior


def test_disc_slices_are_unlabelled_and_show_a_disc(trunk: PhantomCase, anatomy: Anatomy) -> None:
    disc_z = [
        z
        for z, lvl in zip(trunk.volume.slice_positions_mm, trunk.levels, strict=True)
        if lvl is None
    ]
    assert len(disc_z) >= 12  # 23 discs from C2-3 to L5-S1 are 4-12 mm thick
    for z in disc_z:
        segment = anatomy.segments[anatomy.segment_index(float(z))]
        assert segment.bottom_z >= z > segment.next_top_z
        parts = _parts(anatomy, float(z))
        assert "disc" in parts and _area(parts, BODY) == 0


def test_vertebral_bodies_widen_caudally(anatomy: Anatomy) -> None:
    names = [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)]
    areas = [_area(_parts(anatomy, _mid(anatomy, n), rows=160, spacing=1.0), BODY) for n in names]
    assert all(b > a for a, b in zip(areas, areas[1:], strict=False)), areas
    widths = {s.name: s.width for s in anatomy.segments}
    assert 1.8 < widths["L5"] / widths["T1"] < 2.2
    heights = {s.name: s.top_z - s.bottom_z for s in anatomy.segments}
    assert heights["T1"] < heights["T12"] < heights["L3"]


@pytest.mark.parametrize("seed", [3, 8])
def test_ribs_attach_to_thoracic_vertebrae_only(seed: int) -> None:
    anatomy = make_anatomy(seed)
    for segment in anatomy.segments[:-1]:
        z_values = np.linspace(segment.top_z - 0.5, segment.bottom_z + 0.5, 6)
        heads = [_area(_parts(anatomy, float(z)), ("rib_head",)) for z in z_values]
        mid_ribs = _area(_parts(anatomy, (segment.top_z + segment.bottom_z) / 2), RIB)
        if segment.kind == "thoracic":
            assert max(heads) > 0 and mid_ribs > 0, segment.name
        else:
            assert max(heads) == 0, segment.name
        if segment.kind == "lumbar" and segment.name != "L1":
            assert mid_ribs == 0, segment.name  # rib tips end at L1


def test_lungs_in_the_chest_and_iliac_bone_from_l4(anatomy: Anatomy) -> None:
    for name in ("T2", "T5", "T8", "T10"):
        assert _area(_parts(anatomy, _mid(anatomy, name)), ("lung",)) > 100, name
    for name in ("L2", "L3", "L5"):
        assert "lung" not in _parts(anatomy, _mid(anatomy, name)), name
    l4_top = anatomy.body_range("L4")[0]
    for z in np.linspace(anatomy.body_range("T12")[0], l4_top + 0.5, 40):
        assert "iliac_cortex" not in _parts(anatomy, float(z)), anatomy.level_at(float(z))
    for name in ("L5", "S"):
        assert "iliac_cortex" in _parts(anatomy, _mid(anatomy, name) if name != "S" else -620.0)


def test_level_dependent_organs(anatomy: Anatomy) -> None:
    heart = {n: "heart" in _parts(anatomy, _mid(anatomy, n)) for n in ("T2", "T7", "L3")}
    assert heart == {"T2": False, "T7": True, "L3": False}
    assert "liver" in _parts(anatomy, _mid(anatomy, "T12"))
    assert "kidney" in _parts(anatomy, _mid(anatomy, "L1"))
    psoas = [_area(_parts(anatomy, _mid(anatomy, n)), ("psoas",)) for n in ("L1", "L3", "L5")]
    assert 0 < psoas[0] < psoas[1] < psoas[2]
    assert "psoas" not in _parts(anatomy, _mid(anatomy, "T10"))
    neck = _parts(anatomy, _mid(anatomy, "C6"), rows=200, spacing=2.0)["outside"].sum()
    chest = _parts(anatomy, _mid(anatomy, "T6"), rows=200, spacing=2.0)["outside"].sum()
    assert neck > chest  # the neck is narrower


@pytest.mark.parametrize(
    ("variant", "label", "between"),
    [
        ("T13", "T13", ("T12", "L1")),
        ("L6", "L6", ("L5", "Sacral")),
        ("lumbarised_S1", "L6", ("L5", "Sacral")),
        ("sacralised_L5", "L5", ("L4", "Sacral")),
    ],
)
def test_transitional_spines_label_their_extra_vertebra(
    variant: str, label: str, between: tuple[str, str]
) -> None:
    case = make_phantom(5, fov="abdomen", rows=32, cols=32, slice_thickness_mm=4.0,
                        transitional=variant)  # fmt: skip
    runs = _runs(case.levels)
    assert len(runs) == len(set(runs))
    assert runs.index(between[0]) + 1 == runs.index(label) == runs.index(between[1]) - 1
    anatomy = case.anatomy
    heads = [
        _area(_parts(anatomy, float(z)), ("rib_head",))
        for z in np.linspace(*anatomy.body_range(label), 8)
    ]
    assert (max(heads) > 0) == (label == "T13")
    normal = make_anatomy(5)
    if variant == "lumbarised_S1":
        assert anatomy.sacrum_length < 0.85 * normal.sacrum_length
    if variant == "sacralised_L5":
        l5 = next(s for s in anatomy.segments if s.name == "L5")
        assert l5.fused and l5.bottom_z - l5.next_top_z < 3.0


def _where(anatomy: Anatomy, z: float) -> tuple[str, float]:
    """(vertebra, fraction of the way from its top to the next one's) at height z."""
    segment = anatomy.segments[anatomy.segment_index(z)]
    span = segment.top_z - (segment.top_z - anatomy.sacrum_length if segment.kind == "sacral"
                            else segment.next_top_z)  # fmt: skip
    return segment.name, (segment.top_z - z) / span


ORGANS = ("lung", "heart", "liver", "spleen", "kidney", "psoas", "iliac_cortex", "rib_cortex")


@pytest.mark.parametrize(("variant", "junction"), [("T13", 19.0), ("L6", 24.0)])
def test_extra_vertebra_leaves_the_normal_ones_alone(variant: str, junction: float) -> None:
    """A T13 or L6 is added between its neighbours: T1..T12 and L1..L5 keep their ribs,
    landmarks and organs, so none of them looks like the vertebra next to it."""
    seed = 7
    normal, extra = make_anatomy(seed), make_anatomy(seed, transitional=variant)
    assert extra.landmarks == normal.landmarks
    assert len(extra.ribs) == len(normal.ribs) + (variant == "T13")
    for a, b in zip(normal.ribs, extra.ribs, strict=False):  # same head level, same course
        assert _where(normal, a.head_z) == pytest.approx(_where(extra, b.head_z))
        assert (b.head_z, b.bone_z, b.end_z) == pytest.approx((a.head_z, a.bone_z, a.end_z))
    for name, u_std in normal.landmarks.items():
        if abs(u_std - junction) > 0.15:  # at the junction: in or next to the extra vertebra
            where_a, where_b = (
                _where(normal, normal.z_of_std(u_std)),
                _where(extra, extra.z_of_std(u_std)),
            )
            assert where_a[0] == where_b[0] and abs(where_a[1] - where_b[1]) < 0.1, name
    names = [s.name for s in normal.segments if s.kind in ("thoracic", "lumbar")]
    for name in names:
        a, b = (
            _parts(normal, _mid(normal, name), 96, 4.5),
            _parts(extra, _mid(extra, name), 96, 4.5),
        )
        for organ in ORGANS:
            if (name, organ) == ("L1", "rib_cortex") and variant == "T13":
                continue  # L1 sees the tip of rib 13 instead of those of ribs 11-12
            area_a, area_b = _area(a, (organ,)), _area(b, (organ,))
            assert abs(area_a - area_b) <= 0.15 * max(area_a, area_b) + 8, (name, organ)
    if variant == "T13":  # a short floating rib between T12 and L1
        t13 = extra.ribs[-1]
        assert _where(extra, t13.head_z)[0] == "T13" and t13.end_z == t13.bone_z
        assert t13.psi_end < extra.ribs[-2].psi_end  # shorter round the body
        assert _where(extra, t13.bone_z)[0] in ("T13", "L1")


def test_hu_stay_in_their_tissue_windows(trunk: PhantomCase) -> None:
    hu, tissues = trunk.volume.hu, trunk.tissues
    assert set(np.unique(tissues)) <= {int(t) for t in Tissue}
    for tissue, (low, high) in HU_WINDOWS.items():
        values = hu[tissues == tissue]
        assert values.size and low <= values.min() and values.max() <= high, tissue.name
    assert -110 < np.median(hu[tissues == Tissue.SAT]) < -90
    assert 20 < np.median(hu[tissues == Tissue.MUSCLE]) < 65
    assert -900 < np.median(hu[tissues == Tissue.LUNG]) < -780
    assert np.median(hu[tissues == Tissue.AIR]) < -950


def test_materials_follow_published_ranges() -> None:
    for seed in range(20):
        m = make_anatomy(seed).materials
        assert 700 <= m["cortical"] <= 1500 and 150 <= m["cancellous"] <= 400
        assert 50 <= m["liver"] <= 70 and -900 <= m["lung"] <= -700
        assert -190 <= m["fat"] <= -30 and -29 <= m["muscle"] <= 150


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("level", ["T4", "T12", "L3"])
def test_thresholds_recover_body_composition_masks(seed: int, level: str) -> None:
    """Area by HU thresholding inside a compartment matches the mask within 1 %."""
    anatomy = make_anatomy(seed)
    rng = np.random.default_rng(seed)
    z = float(rng.uniform(*reversed(anatomy.body_range(level))))
    hu, tissues = render_slice(anatomy, z, rows=256, cols=256, pixel_spacing_mm=1.7, rng=rng)

    def inside(name: str) -> np.ndarray:
        return np.isin(tissues, [int(t) for t in COMPARTMENTS[name]])

    checks = [
        ("muscle", (-29, 150), Tissue.MUSCLE),
        ("muscle", (-190, -30), Tissue.IMAT),
        ("subcutaneous", (-190, -30), Tissue.SAT),
        ("visceral", (-150, -50), Tissue.VAT),
    ]
    for compartment, (low, high), tissue in checks:
        thresholded = (inside(compartment) & (hu >= low) & (hu <= high)).sum()
        truth = (tissues == tissue).sum()
        if tissue in (Tissue.MUSCLE, Tissue.SAT):
            assert truth > 500
        assert abs(int(thresholded) - int(truth)) <= 0.01 * max(int(truth), 1), tissue.name


def test_phantom_is_deterministic_by_seed() -> None:
    first = make_phantom(11, fov="chest", rows=32, cols=32, slice_thickness_mm=10.0)
    again = make_phantom(11, fov="chest", rows=32, cols=32, slice_thickness_mm=10.0)
    other = make_phantom(12, fov="chest", rows=32, cols=32, slice_thickness_mm=10.0)
    assert np.array_equal(first.volume.hu, again.volume.hu)
    assert np.array_equal(first.tissues, again.tissues) and first.levels == again.levels
    assert first.volume.shape != other.volume.shape or not np.array_equal(
        first.volume.hu, other.volume.hu
    )
    assert make_anatomy(4).segments == make_anatomy(4).segments


@pytest.mark.parametrize("seed", range(3))
def test_fields_of_view_cover_their_levels(seed: int) -> None:
    anatomy = make_anatomy(seed)
    expected = {
        "chest": ("Cervical", *[f"T{i}" for i in range(1, 13)], "L1"),
        "abdomen": ("T11", "T12", "L1", "L2", "L3", "L4", "L5", "Sacral"),
        "trunk": FINE_LEVELS,
    }
    for fov in FOVS:
        case = make_phantom(seed, fov=fov, rows=16, cols=16, slice_thickness_mm=6.0,
                            anatomy=anatomy)  # fmt: skip
        labels = set(case.levels) - {None}
        assert set(expected[fov]) <= labels, fov
        if fov == "chest":
            assert not labels & {"L2", "Sacral"}
        if fov == "abdomen":
            assert not labels & {"Cervical", "T1", "T5", "T8"}
        assert 320 <= case.meta["field_of_view_mm"] <= 500


def test_field_of_view_varies_between_patients() -> None:
    extents = {
        round(
            make_phantom(seed, fov="chest", rows=8, cols=8, slice_thickness_mm=20.0).meta[
                "field_of_view_mm"
            ]
        )
        for seed in range(6)
    }
    assert len(extents) >= 4  # the body fills the image differently


def test_dataset_round_trips_through_dicom_and_manifest(tmp_path: Path) -> None:
    manifest_path = write_phantom_dataset(
        tmp_path, cases=2, seed=4, fovs=("chest",), rows=24, slice_thickness_mm=12.0,
        centres=("A", "B"), transitional_fraction=0.0,
    )  # fmt: skip
    rows = read_manifest(manifest_path)
    cases = read_manifest(tmp_path / CASES_NAME)
    assert [c["centre"] for c in cases] == ["A", "B"]
    assert {row["case_id"] for row in rows} == {"case0000", "case0001"}
    assert sum(c["slices"] for c in cases) == len(rows)
    for row in rows:
        assert row["scheme"] == "fine" and (row["level"] is None or row["level"] in FINE_LEVELS)
    rebuilt = make_phantom(4 * 10_000, fov="chest", rows=24, cols=24, slice_thickness_mm=12.0,
                           anatomy=_identity_anatomy(4, 0))  # fmt: skip
    first = [row for row in rows if row["case_id"] == "case0000"]
    assert [row["level"] for row in first] == rebuilt.levels
    for row in first:
        ds = pydicom.dcmread(tmp_path / row["path"])
        hu = ds.pixel_array.astype(np.int32) + int(ds.RescaleIntercept)
        assert np.array_equal(hu, rebuilt.volume.hu[row["slice_index"]])
        assert np.isclose(float(ds.ImagePositionPatient[2]), row["z_mm"], atol=1e-3)
        assert ds.BodyPartExamined == "CHEST" and ds.InstanceNumber == row["slice_index"] + 1
    studies = {pydicom.dcmread(tmp_path / r["path"]).StudyInstanceUID for r in rows[:: len(first)]}
    assert len(studies) == 2
    tissues = np.load(tmp_path / cases[0]["tissues"])["tissues"]
    assert np.array_equal(tissues, rebuilt.tissues)


def _identity_anatomy(seed: int, index: int) -> Anatomy:
    from ml_worker.synthetic import make_patient

    patient = make_patient(index, seed=seed)
    return make_anatomy(seed * 10_000 + index, sex=patient.sex, height_m=patient.height_m,
                        bmi=patient.bmi, age=patient.age_years)  # fmt: skip


def test_dataset_can_be_written_as_numpy(tmp_path: Path) -> None:
    manifest_path = write_phantom_dataset(
        tmp_path, cases=1, seed=2, rows=16, slice_thickness_mm=20.0, as_dicom=False
    )
    rows = read_manifest(manifest_path)
    volume = np.load(tmp_path / rows[0]["path"])
    assert volume["hu"].shape == (len(rows), 16, 16) and volume["hu"].dtype == np.int16


def test_training_slices_render_in_memory() -> None:
    items = list(iter_training_slices(7, 12, rows=48))
    assert len(items) == 12
    for hu, label in items:
        assert hu.shape == (48, 48) and hu.dtype == np.int16
        assert label in FINE_LEVELS or label in ("T13", "L6")
    dataset = PhantomSliceDataset(7, 12, rows=48)
    image, target = dataset[3]
    assert image.shape == (1, 48, 48) and image.dtype == np.float32
    assert target.shape == (NUM_CLASSES,) and target.sum() >= 1
    assert np.array_equal(image[0], items[3][0])
    with pytest.raises(IndexError):
        dataset.sample(12)
    discs = PhantomSliceDataset(1, 60, rows=16, include_discs=True)
    assert any(discs.sample(i).label is None for i in range(60))


def test_render_slice_shapes_and_types(anatomy: Anatomy) -> None:
    rng = np.random.default_rng(0)
    hu, tissues = render_slice(anatomy, _mid(anatomy, "L3"), rows=40, cols=56,
                               pixel_spacing_mm=(8.0, 7.0), rng=rng)  # fmt: skip
    assert hu.shape == tissues.shape == (40, 56)
    assert hu.dtype == np.int16 and tissues.dtype == np.uint8
    assert [int(t) for t in Tissue] == list(range(8))


def test_preview_images_can_be_written(trunk: PhantomCase, tmp_path: Path) -> None:
    """Mid-sagittal reformat and axial slices, for looking at the anatomy."""
    image = pytest.importorskip("PIL.Image")
    volume, anatomy = trunk.volume, trunk.anatomy

    def window(hu: np.ndarray, centre: float = 40.0, width: float = 400.0) -> np.ndarray:
        return np.clip((hu - (centre - width / 2)) / width * 255, 0, 255).astype(np.uint8)

    column = ROWS // 2 + int(round(anatomy.centre[0] / volume.pixel_spacing_mm[1]))
    stretch = volume.slice_thickness_mm / volume.pixel_spacing_mm[0]
    rows = (np.arange(int(volume.shape[0] * stretch)) / stretch).astype(int)
    image.fromarray(window(volume.hu[rows, :, column], 300, 1500)).save(tmp_path / "sagittal.png")
    for name in ("C6", "T4", "T8", "T12", "L3", "S"):
        z = _mid(anatomy, name) if name != "S" else anatomy.body_range("S")[0] - 12.0
        hu, _ = render_slice(anatomy, z, rows=256, cols=256, pixel_spacing_mm=1.6,
                             rng=np.random.default_rng(0))  # fmt: skip
        image.fromarray(window(hu)).save(tmp_path / f"axial_{name}.png")
    assert len(list(tmp_path.glob("*.png"))) == 7
