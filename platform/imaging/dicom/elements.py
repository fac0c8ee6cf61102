"""Element helpers that leave values unconverted.

pydicom converts a value when the element is first accessed, at a cost of tens
of microseconds each; ingest converts only the values it reads or changes and
copies the others' bytes as they came (see imaging.dicom.part10)."""

from __future__ import annotations

from typing import Any

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.hooks import hooks


def vr_of(element: DataElement | RawDataElement, ds: Dataset) -> str:
    """The VR an element of ``ds`` has, or will have once converted (pydicom's own
    lookup: the file's explicit VR, else the dictionary, private creators too)."""
    if isinstance(element, RawDataElement):
        if element.VR is not None and element.VR != "UN":
            return str(element.VR)  # explicit VR: what the hook would return
        data: dict[str, Any] = {}
        hooks.raw_element_vr(element, data, encoding=None, ds=ds)
        return str(data["VR"])
    return str(element.VR)
