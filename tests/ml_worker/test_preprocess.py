"""Preprocessing: HU conversion, series ordering, orientation, windows, resizing."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from ml_worker.preprocess import (
    SeriesError,
    dataset_to_hu,
    dataset_to_input,
    hu_to_input,
    sort_slices,
    to_standard_orientation,
    window_channels,
)
from ml_worker.synthetic import CTVolume, make_ct_volume, make_patient, write_ct_series

N_SLICES, SIZE = 6, 32


def make_slice(
    pixels: np.ndarray,
    *,
    z: float = 0.0,
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    slope: float | None = 1.0,
    intercept: float | None = -1024.0,
    modality: str = "CT",
) -> Dataset:
    """A minimal in-memory single-frame CT dataset."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Modality = modality
    ds.ImageOrientationPatient = list(orientation)
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    ds.PixelData = pixels.tobytes()
    return ds


@pytest.fixture(scope="module")
def volume() -> CTVolume:
    return make_ct_volume(n_slices=N_SLICES, rows=SIZE, cols=SIZE, seed=3)


@pytest.mark.parametrize(
    ("syntax", "representation"),
    [("explicit", 0), ("explicit", 1), ("rle", 1), ("jpeg2000", 0)],
)
def test_hu_of_written_files_matches_the_volume(
    volume: CTVolume, tmp_path: Path, syntax: str, representation: int
) -> None:
    paths = write_ct_series(
        volume,
        tmp_path,
        patient=make_patient(0),
        transfer_syntax=syntax,
        pixel_representation=representation,
    )
    hu = np.stack([dataset_to_hu(pydicom.dcmread(p)) for p in paths])
    assert hu.dtype == np.float32
    np.testing.assert_array_equal(hu, volume.hu.astype(np.float32))


def test_hu_applies_slope_and_intercept_to_signed_storage() -> None:
    stored = np.array([[-2000, 0], [5, 1000]], dtype=np.int16)
    hu = dataset_to_hu(make_slice(stored, slope=0.5, intercept=-10.0))
    np.testing.assert_array_equal(hu, [[-1010.0, -10.0], [-7.5, 490.0]])


def test_hu_treats_unsigned_storage_as_unsigned() -> None:
    stored = np.array([[0, 40000]], dtype=np.uint16)  # 40000 would be negative if signed
    np.testing.assert_array_equal(dataset_to_hu(make_slice(stored)), [[-1024.0, 38976.0]])


def test_missing_rescale_is_the_identity() -> None:
    stored = np.array([[-5, 7]], dtype=np.int16)
    hu = dataset_to_hu(make_slice(stored, slope=None, intercept=None))
    np.testing.assert_array_equal(hu, [[-5.0, 7.0]])


def test_sort_restores_a_shuffled_series_superior_first(volume: CTVolume, tmp_path: Path) -> None:
    paths = write_ct_series(volume, tmp_path, patient=make_patient(0))
    datasets = [pydicom.dcmread(p) for p in paths]
    expected = [ds.SOPInstanceUID for ds in datasets]  # the writer goes superior → inferior
    random.Random(1).shuffle(datasets)
    assert [ds.SOPInstanceUID for ds in sort_slices(datasets)] == expected


@pytest.mark.parametrize(
    "orientation",
    [(1, 0, 0, 0, 1, 0), (-1, 0, 0, 0, 1, 0), (-1, 0, 0, 0, -1, 0), (0, 1, 0, 1, 0, 0)],
    ids=["head-first", "feet-first", "reversed-both", "transposed"],
)
def test_sort_is_superior_first_whatever_the_normal_sign(orientation: tuple[int, ...]) -> None:
    pixels = np.zeros((2, 2), dtype=np.int16)
    zs = [-5.0, 10.0, 2.5, 0.0]
    ordered = sort_slices([make_slice(pixels, z=z, orientation=orientation) for z in zs])
    assert [float(ds.ImagePositionPatient[2]) for ds in ordered] == [10.0, 2.5, 0.0, -5.0]


@pytest.mark.parametrize(
    ("slices", "code"),
    [
        ([], "empty"),
        ([make_slice(np.zeros((2, 2), np.int16), modality="MR")], "not_ct"),
        (
            [make_slice(np.zeros((2, 2), np.int16), z=z) for z in (0.0, 2.5, 2.5)],
            "duplicate_position",
        ),
        (
            [
                make_slice(np.zeros((2, 2), np.int16), z=0.0),
                make_slice(np.zeros((2, 2), np.int16), z=2.5, orientation=(-1, 0, 0, 0, 1, 0)),
            ],
            "inconsistent_orientation",
        ),
        (
            [make_slice(np.zeros((2, 2), np.int16), orientation=(0, 1, 0, 0, 0, -1))],
            "not_axial",
        ),
    ],
    ids=["empty", "not-ct", "duplicate", "inconsistent", "sagittal"],
)
def test_unusable_series_are_refused_with_a_code(slices: list[Dataset], code: str) -> None:
    with pytest.raises(SeriesError) as error:
        sort_slices(slices)
    assert error.value.code == code
    assert error.value.message


def test_missing_geometry_is_refused() -> None:
    ds = make_slice(np.zeros((2, 2), np.int16))
    del ds.ImagePositionPatient
    with pytest.raises(SeriesError, match="missing_geometry"):
        sort_slices([ds])


def test_reversed_orientations_are_flipped_to_the_standard_one() -> None:
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(to_standard_orientation(image, (1, 0, 0, 0, 1, 0)), image)
    flipped_lr = image[:, ::-1]
    np.testing.assert_array_equal(to_standard_orientation(flipped_lr, (-1, 0, 0, 0, 1, 0)), image)
    prone = image[::-1, ::-1]
    np.testing.assert_array_equal(to_standard_orientation(prone, (-1, 0, 0, 0, -1, 0)), image)
    np.testing.assert_array_equal(to_standard_orientation(image.T, (0, 1, 0, 1, 0, 0)), image)


def test_a_feet_first_dataset_gives_the_same_input_as_head_first(volume: CTVolume) -> None:
    stored = (volume.hu[2].astype(np.int32) + 1024).astype(np.int16)
    standard = dataset_to_input(make_slice(stored), 16)
    mirrored = make_slice(np.ascontiguousarray(stored[:, ::-1]), orientation=(-1, 0, 0, 0, 1, 0))
    torch.testing.assert_close(dataset_to_input(mirrored, 16), standard)


def test_windows_map_their_level_to_half_and_clip_to_unit_range() -> None:
    hu = np.array([[300.0, 40.0, -600.0, -2000.0, 4000.0]], dtype=np.float32)
    bone, soft, lung = window_channels(hu)
    assert bone[0, 0] == pytest.approx(0.5)
    assert soft[0, 1] == pytest.approx(0.5)
    assert lung[0, 2] == pytest.approx(0.5)
    assert (bone[0, 3], soft[0, 3], lung[0, 3]) == (0.0, 0.0, 0.0)
    assert (bone[0, 4], soft[0, 4], lung[0, 4]) == (1.0, 1.0, 1.0)


def test_hu_to_input_returns_float32_windows_at_the_model_size(volume: CTVolume) -> None:
    x = hu_to_input(volume.hu[0], 24)
    assert x.shape == (3, 24, 24)
    assert x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    same = hu_to_input(volume.hu[0], SIZE)
    torch.testing.assert_close(same, torch.from_numpy(window_channels(volume.hu[0])))


def test_non_square_slices_are_padded_with_air_not_stretched() -> None:
    hu = np.full((8, 16), 300.0, dtype=np.float32)  # bone everywhere: bone window 0.5
    x = hu_to_input(hu, 16)
    assert x.shape == (3, 16, 16)
    assert float(x[0, 8, 8]) == pytest.approx(0.5)
    assert float(x[0, 0, 8]) == 0.0  # padding rows are air


def test_multi_frame_is_refused() -> None:
    ds = make_slice(np.zeros((2, 2), np.int16))
    ds.NumberOfFrames = 2
    with pytest.raises(SeriesError, match="multi_frame"):
        dataset_to_hu(ds)
