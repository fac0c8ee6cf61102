"""Safe reading of uploaded zip archives: every structural check (paths, links,
encryption, methods, declared sizes and ratios) runs on the whole central
directory before the first member is read, and sizes are enforced again while
inflating, since headers can lie. Refusals are ``ArchiveRejected``."""

from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator

from imaging.dicom.validation import ArchiveRejected

_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_JUNK_DIRS = frozenset({"__MACOSX"})
_JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_READ_CHUNK = 1 << 16


def iter_zip_members(
    data: bytes,
    *,
    max_members: int,
    max_total_uncompressed: int,
    max_member_bytes: int,
    max_ratio: float,
) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) for each regular file in a zip, safely.

    The whole central directory is checked before the first member is yielded, so a
    structurally unsafe archive is refused before any of it is processed. Sizes are
    then enforced again while inflating: headers can lie.
    """
    archive = _open_zip(data)
    members = _checked_members(archive, max_members=max_members)
    _check_declared_sizes(
        members,
        max_total_uncompressed=max_total_uncompressed,
        max_member_bytes=max_member_bytes,
        max_ratio=max_ratio,
    )
    total = 0
    for info in members:
        content = _read_member(archive, info, max_member_bytes, max_ratio)
        total += len(content)
        if total > max_total_uncompressed:
            raise ArchiveRejected(
                "zip_too_large_total",
                f"The archive expands to more than {max_total_uncompressed} bytes.",
            )
        yield info.filename, content


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        ValueError,
        EOFError,
        NotImplementedError,
    ) as exc:
        raise ArchiveRejected("zip_invalid", "The upload is not a readable zip archive.") from exc


def _checked_members(archive: zipfile.ZipFile, *, max_members: int) -> list[zipfile.ZipInfo]:
    """Structural checks on every entry; returns the regular, non-junk files."""
    infos = archive.infolist()
    if len(infos) > max_members:
        raise ArchiveRejected(
            "zip_too_many_members", f"The archive has more than {max_members} entries."
        )
    names: set[str] = set()
    offsets: set[int] = set()
    members = []
    for info in infos:
        _check_member_name(info.filename)
        _check_member_type(info)
        if info.filename in names or info.header_offset in offsets:
            # Repeated names hide files; shared offsets are the overlapping-entry bomb.
            raise ArchiveRejected("zip_duplicate_member", "The archive repeats an entry.")
        names.add(info.filename)
        offsets.add(info.header_offset)
        if info.is_dir() or _is_junk(info.filename):
            continue
        if info.flag_bits & 0x41:  # bit 0 traditional, bit 6 strong encryption
            raise ArchiveRejected("zip_encrypted", "The archive contains an encrypted entry.")
        if info.compress_type not in _ZIP_METHODS:
            raise ArchiveRejected(
                "zip_unsupported_compression",
                "Only stored and deflated zip entries are accepted.",
            )
        members.append(info)
    return members


def _check_member_name(name: str) -> None:
    parts = name.split("/")
    unsafe = (
        not name
        or name.startswith("/")
        or "\\" in name
        or _DRIVE_RE.match(name) is not None
        or ".." in parts
        or any(ord(char) < 32 for char in name)
    )
    if unsafe:
        raise ArchiveRejected(
            "zip_unsafe_path", "The archive contains an entry with an unsafe path."
        )


def _check_member_type(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16  # Unix mode bits, when the creator recorded them
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise ArchiveRejected("zip_symlink", "The archive contains a symbolic link.")
    if mode and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveRejected(
            "zip_special_file", "The archive contains a device, pipe or socket entry."
        )


def _is_junk(name: str) -> bool:
    parts = [part for part in name.split("/") if part]
    if not parts:
        return True
    base = parts[-1]
    return bool(_JUNK_DIRS.intersection(parts)) or base in _JUNK_FILES or base.startswith("._")


def _check_declared_sizes(
    members: list[zipfile.ZipInfo],
    *,
    max_total_uncompressed: int,
    max_member_bytes: int,
    max_ratio: float,
) -> None:
    total = 0
    for info in members:
        if info.file_size > max_member_bytes:
            raise ArchiveRejected(
                "zip_member_too_large",
                f"An entry is larger than {max_member_bytes} bytes uncompressed.",
            )
        _check_ratio(info.file_size, info.compress_size, max_ratio)
        total += info.file_size
    if total > max_total_uncompressed:
        raise ArchiveRejected(
            "zip_too_large_total",
            f"The archive declares more than {max_total_uncompressed} bytes uncompressed.",
        )


def _check_ratio(uncompressed: int, compressed: int, max_ratio: float) -> None:
    if uncompressed and uncompressed > max_ratio * max(compressed, 1):
        raise ArchiveRejected(
            "zip_ratio_exceeded",
            f"An entry's compression ratio exceeds {max_ratio:g}; possible zip bomb.",
        )


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_member_bytes: int, max_ratio: float
) -> bytes:
    """Inflate one entry in chunks, stopping as soon as a limit is crossed."""
    limit = min(max_member_bytes, int(max_ratio * max(info.compress_size, 1)))
    buffer = bytearray()
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_READ_CHUNK):
                buffer += chunk
                if len(buffer) > limit:
                    _check_ratio(len(buffer), info.compress_size, max_ratio)
                    raise ArchiveRejected(
                        "zip_member_too_large",
                        f"An entry expands beyond {max_member_bytes} bytes.",
                    )
    except ArchiveRejected:
        raise
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        RuntimeError,
        zlib.error,
        NotImplementedError,
    ) as exc:
        raise ArchiveRejected(
            "zip_corrupt_member", "An archive entry is corrupt (bad data or checksum)."
        ) from exc
    return bytes(buffer)
