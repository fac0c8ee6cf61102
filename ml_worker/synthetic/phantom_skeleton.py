"""Phantom painters of the skeleton: ribs and costal cartilage, vertebral
bodies, discs, neural arches and the spinal canal, sacrum and coccyx, and the
girdles (sternum, clavicles, scapulae, iliac wings, femoral heads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml_worker.synthetic.anatomy import Anatomy, Rib, Section, Segment
from ml_worker.synthetic.phantom_canvas import _PSI, _Canvas, _Outline, _span, _window_of
from ml_worker.synthetic.phantom_tissues import ID

_RIB_PSI_START = 0.42  # where the shaft leaves the costotransverse region
_RIB_HALF_HEIGHT = 6.0


def _rib_spans(rib: Rib, z: float, h: float) -> list[tuple[float, float, str]]:
    """Angular spans (from the back) where a rib of half-height h crosses the
    slice at z: the bone runs level near the spine then slopes down towards its
    anterior end; the cartilage climbs back up to the sternum."""
    spans = []
    top, bottom = z + h, z - h
    if bottom < rib.head_z and top > rib.bone_z:
        drop = rib.head_z - rib.bone_z

        def bony(zz: float) -> float:
            t = min(max((rib.head_z - zz) / drop, 0.0), 1.0) ** (1 / 1.4)
            return _RIB_PSI_START + (rib.psi_bone - _RIB_PSI_START) * t

        spans.append((bony(top), bony(bottom), "rib_cortex"))
    rise = rib.end_z - rib.bone_z
    if rise > 1.0 and bottom < rib.end_z and top > rib.bone_z:

        def cartilage(zz: float) -> float:
            t = min(max((zz - rib.bone_z) / rise, 0.0), 1.0)
            return rib.psi_bone + (rib.psi_end - rib.psi_bone) * t

        spans.append((cartilage(bottom), cartilage(top), "cartilage"))
    return spans


def _paint_ribs(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    h = _RIB_HALF_HEIGHT
    ribs = [rib for rib in an.ribs if rib.bone_z - h < sec.z < rib.head_z + h]
    if not sec.rib_layer or not ribs:
        return
    win = _window_of(cv, float(out.frame.max()))
    if win is None:
        return
    ids, r, t = cv.ids[win.rs, win.cs], cv.r[win.rs, win.cs], cv.t[win.rs, win.cs]
    thick = sec.rib_layer - 1.0
    din = r - out.inner[t]
    band = (din > 0.4) & (din < 0.4 + thick)
    br, bd, psi = r[band], din[band], _PSI[t[band]]
    values = ids[band]
    inset = 1.4 / np.maximum(br, 1.0)
    inside = (bd > 1.8) & (bd < thick - 1.0)
    for rib in ribs:
        for lo, hi, name in _rib_spans(rib, sec.z, h):
            on = (psi >= lo) & (psi <= hi)
            values[on] = ID[name]
            if name == "rib_cortex":
                values[on & inside & (psi > lo + inset) & (psi < hi - inset)] = ID["rib_marrow"]
    ids[band] = values
    for rib in ribs:
        if abs(sec.z - rib.head_z) < h - 0.5:
            _paint_rib_neck(cv, sec, out, thick)


def _paint_rib_neck(cv: _Canvas, sec: Section, out: _Outline, thick: float) -> None:
    """Head and neck: from the side of the vertebral body out to the shaft."""
    for right in (True, False):
        side = -1.0 if right else 1.0
        joint = (sec.spine_x + side * (sec.width / 2 - 1.5), sec.spine_y + sec.depth * 0.2)
        x, y = out.at("inner", _RIB_PSI_START, right)
        scale = 1.0 + (0.4 + thick / 2) / max(np.hypot(x, y), 1.0)
        shaft = (cv.cx + x * scale, cv.cy + y * scale)
        cv.capsule("rib_head", joint, shaft, thick / 2)
        cv.capsule("rib_marrow", joint, shaft, thick / 2 - 1.4)


def _paint_spine(cv: _Canvas, an: Anatomy, sec: Section) -> None:
    if sec.z > 0.0:
        return  # above C1: the skull base is not modelled
    index = an.segment_index(sec.z)
    segments = an.segments
    for j in (index - 1, index, index + 1):
        if 0 <= j < len(segments) and segments[j].kind != "sacral":
            _paint_arch(cv, an, sec, j)
    segment = segments[index]
    if segment.kind == "sacral":
        _paint_sacrum(cv, an, sec, segment)
        return
    x, y = sec.spine_x, sec.spine_y
    if sec.z > segment.bottom_z:
        h = segment.top_z - segment.bottom_z
        waist = 1.0 - 0.05 * np.sin(np.pi * (segment.top_z - sec.z) / h)
        a, b = segment.width / 2 * waist, segment.depth / 2 * waist
        near_end = min(segment.top_z - sec.z, sec.z - segment.bottom_z) < 1.5
        cv.ellipse("vb_cortex", x, y, a, b)
        cv.ellipse("endplate" if near_end else "vb_marrow", x, y, a - 1.5, b - 1.5)
    else:
        below = segments[index + 1]
        f = (segment.bottom_z - sec.z) / max(segment.bottom_z - segment.next_top_z, 1e-3)
        a = (segment.width + (below.width - segment.width) * f) / 2
        b = (segment.depth + (below.depth - segment.depth) * f) / 2
        cv.ellipse("disc", x, y, a, b)
    _paint_canal(cv, sec)


def _paint_canal(cv: _Canvas, sec: Section) -> None:
    y = sec.spine_y + sec.depth / 2 + sec.canal_d / 2 + 1.0
    cv.ellipse("csf", sec.spine_x, y, sec.canal_w / 2, sec.canal_d / 2)
    if sec.s < 20.3:  # the cord ends at L1-L2; below lies the cauda equina
        cv.ellipse("cord", sec.spine_x, y, sec.canal_w * 0.26, sec.canal_d * 0.3)


def _paint_arch(cv: _Canvas, an: Anatomy, sec: Section, j: int) -> None:
    """Pedicles, laminae, spinous and transverse processes and facets of
    vertebra j at the current height; they reach into the disc levels."""
    seg = an.segments[j]
    h = seg.top_z - seg.bottom_z
    fb = (seg.top_z - sec.z) / h  # 0 at the upper endplate, 1 at the lower
    disc = (seg.bottom_z - seg.next_top_z) / h
    above = (an.segments[j - 1].bottom_z - seg.top_z) / h if j > 0 else 0.0
    if fb < -above - 0.2 or fb > 1.0 + disc + 0.7:
        return
    x, k = sec.spine_x, an.lr_scale
    y_back = sec.spine_y + sec.depth / 2
    px, py = sec.canal_w / 2 + 2.5, y_back + sec.canal_d * 0.55  # pedicle-lamina junction
    y_canal = y_back + sec.canal_d + 2.0
    cervical, thoracic = seg.kind == "cervical", seg.kind == "thoracic"
    for side in (-1.0, 1.0):
        if 0.08 < fb < 0.62:
            start = (x + side * seg.width * 0.3, y_back - 2.0)
            cv.bone_capsule("arch", start, (x + side * px, py), 2.5 if cervical else 4.0)
        if 0.3 < fb < 1.0 + 0.8 * disc:
            cv.capsule("arch", (x + side * px, py), (x, y_canal), 3.2)
        if 0.75 < fb < 1.0 + disc + 0.1 or -above - 0.15 < fb < 0.2:  # articular processes
            cv.bone_ellipse("arch", x + side * (px + 2.0), py + 3.0, 5.0 * k, 6.0 * k)
        if 0.12 < fb < 0.55:
            _paint_transverse(cv, seg, sec, side, (x + side * px, py))
    lo, hi = (0.45, 1.0 + disc + 0.45) if thoracic else (0.3, 1.1) if cervical else (0.25, 0.95)
    if lo < fb < hi:
        # Thoracic spines slope down: lower slices cut only their distal part.
        start = 0.7 * seg.spinous * (fb - lo) / (hi - lo) if thoracic else 0.0
        tip = (x, y_canal + seg.spinous)
        cv.bone_capsule("arch", (x, y_canal + start), tip, 5.0 if seg.kind == "lumbar" else 3.5)
        if cervical and seg.name != "C7":  # bifid tips
            for side in (-1.0, 1.0):
                cv.capsule("arch", tip, (x + side * 5.0, tip[1] + 4.0), 2.2)


def _paint_transverse(
    cv: _Canvas, seg: Segment, sec: Section, side: float, base: tuple[float, float]
) -> None:
    x, y = sec.spine_x, sec.spine_y
    if seg.kind == "cervical":  # with the foramen of the vertebral artery
        start = (x + side * seg.width / 2, y)
        cv.capsule("arch", start, (start[0] + side * seg.tp_len, y + 2.0), 3.5)
        cv.ellipse("blood", start[0] + side * 4.0, y + 1.0, 2.2, 2.2)
    elif seg.kind == "thoracic":  # points back and out, to meet its rib
        end = (base[0] + side * seg.tp_len * 0.9, base[1] + seg.tp_len * 0.44)
        cv.bone_capsule("arch", base, end, 4.0)
    else:
        radius, extra = (9.0, 12.0) if seg.fused else (3.5, 0.0)
        end = (base[0] + side * (seg.tp_len + extra + seg.width * 0.15), base[1] - 4.0)
        cv.bone_capsule("arch", (base[0], base[1] - 2.0), end, radius)


def _sacrum_shape(an: Anatomy, sec: Section) -> tuple[float, float, float, float, float, float]:
    """(x, y, body half-width, half-depth, ala reach, ala radius) at this height."""
    segment = an.segments[-1]
    f = min(max((segment.top_z - sec.z) / an.sacrum_length, 0.0), 1.0)
    k = an.lr_scale
    y = sec.spine_y + 18.0 * f**1.5  # the sacrum curves backwards
    half_w = segment.width / 2 * (1.0 - 0.6 * f)
    half_d = segment.depth / 2 * (1.0 - 0.45 * f)
    return sec.spine_x, y, half_w, half_d, 52.0 * k * (1.0 - 0.6 * f), 13.0 * k * (1 - 0.5 * f)


def _paint_sacrum(cv: _Canvas, an: Anatomy, sec: Section, segment: Segment) -> None:
    f = (segment.top_z - sec.z) / an.sacrum_length
    x, y, half_w, half_d, ala, ala_r = _sacrum_shape(an, sec)
    if f <= 1.0:
        cv.bone_capsule("sacrum", (x - ala, y + 4.0), (x + ala, y + 4.0), ala_r, cortex_mm=2.0)
        cv.bone_ellipse("sacrum", x, y, half_w, half_d)
        if f < 0.85 and 0.3 < (f * 5.0) % 1.0 < 0.7:  # anterior sacral foramina
            for side in (-1.0, 1.0):
                cv.ellipse("csf", x + side * (half_w + 6.0), y - 2.0, 3.5, 3.5)
        canal_w = segment.canal_w / 2 * (1.0 - 0.5 * f)
        cv.ellipse("csf", x, y + half_d + 5.0, canal_w, 4.0)
        cv.capsule("sacrum", (x, y + half_d + 10.0), (x, y + half_d + 16.0), 3.0)
    elif f < 1.0 + 30.0 / an.sacrum_length:  # coccyx
        g = (f - 1.0) * an.sacrum_length / 30.0
        cv.bone_ellipse("sacrum", x, y - 6.0 * g, 8.0 - 4.0 * g, 6.0 - 3.0 * g)


@dataclass(frozen=True)
class _Wing:
    """One iliac bone in a slice: a curved plate along the inner surface of the
    gluteal wall, and a thicker posterior part towards the sacroiliac joint."""

    plate: list[tuple[float, float]]
    plate_radius: float
    posterior: tuple[tuple[float, float], tuple[float, float]] | None
    posterior_radius: float


def _iliac_wings(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> list[_Wing]:
    """The wing appears at the crest as a posterolateral rim and spreads forwards
    and backwards below it; from S1 down its posterior end meets the sacral ala."""
    s, crest, k = sec.s, an.landmarks["crest"], an.lr_scale
    if not crest < s < 25.5:
        return []
    low = min(max((s - 24.6) / 0.6, 0.0), 1.0)  # towards the acetabulum
    spread = min((s - crest) / 0.6, 1.0)
    psi_lo = 1.3 - 0.3 * spread + 0.45 * low
    psi_hi = 1.3 + (2.05 - 0.3 * low - 1.3) * min((s - crest) / 1.3, 1.0)
    x, y, _, _, ala, ala_r = _sacrum_shape(an, sec)
    wings = []
    for right in (True, False):
        side = -1.0 if right else 1.0
        plate = []
        for psi in np.linspace(psi_lo, psi_hi, 6):
            px, py = out.at("inner", float(psi), right)
            plate.append((cv.cx + px * 1.03, cv.cy + py * 1.03))
        posterior = None
        reach = min(max((s - crest - 0.6) / 0.5, 0.0), 1.0)
        if reach > 0:
            if s < 24.0:
                target = (x + side * (sec.width / 2 + 38.0 * k), sec.spine_y + 32.0 * k)
            else:
                target = (x + side * (ala + ala_r + 2.5), y + 4.0)
            start = plate[0]
            end = (
                start[0] + (target[0] - start[0]) * reach,
                start[1] + (target[1] - start[1]) * reach,
            )
            posterior = (start, end)
        rim = 5.0 if s - crest < 0.3 else 3.5
        wings.append(_Wing(plate, (rim + 6.0 * low) * k, posterior, (6.0 + 3.0 * low) * k))
    return wings


def _paint_girdles(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    _paint_sternum(cv, an, sec, out)
    _paint_clavicles(cv, an, sec, out)
    _paint_scapulae(cv, an, sec, out)
    for wing in _iliac_wings(cv, an, sec, out):
        for p0, p1 in zip(wing.plate, wing.plate[1:], strict=False):
            cv.bone_capsule("iliac", p0, p1, wing.plate_radius)
        if wing.posterior:
            cv.bone_capsule("iliac", *wing.posterior, wing.posterior_radius)
    if (t := _span(sec.s, 25.0, 25.6)) is not None:  # femoral heads
        radius = 22.0 * an.lr_scale * float(np.sqrt(max(1.0 - (2 * t - 1) ** 2, 0.05)))
        for right in (True, False):
            hx, hy = out.at("inner", 1.85, right)
            scale = 1.0 + (radius + 6.0) / max(np.hypot(hx, hy), 1.0)
            cv.bone_ellipse("bone", cv.cx + hx * scale, cv.cy + hy * scale, radius, radius)


def _paint_sternum(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    marks, k = an.landmarks, an.lr_scale
    if not marks["manubrium"] < sec.s < marks["xiphoid"] + 0.3:
        return
    _, y = out.at("inner", np.pi, True)
    y = cv.cy + y - max(sec.rib_layer, 6.0) / 2
    if sec.s < marks["sternal_angle"]:
        half_w, half_t = 24.0 * k, 6.0 * k
    elif sec.s < marks["xiphoid"] - 0.6:
        half_w, half_t = 14.0 * k, 5.0 * k
    else:
        half_w, half_t = 8.0 * k, 3.0 * k
    cv.bone_ellipse("bone", cv.cx, y, half_w, half_t)


def _paint_clavicles(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    z0 = an.z_of_std(an.landmarks["clavicle"])
    t0, t1 = (sec.z - z0 + 2.0) / 16.0, (sec.z - z0 + 14.0) / 16.0  # lateral end higher
    t0, t1 = max(t0, 0.0), min(t1, 1.0)
    if t0 >= t1:
        return
    _, y_front = out.at("frame", np.pi, True)
    for right in (True, False):
        side = -1.0 if right else 1.0
        medial = (cv.cx + side * 20.0 * an.lr_scale, cv.cy + y_front + 12.0)
        lx, ly = out.at("frame", 1.75, right)
        lateral = (cv.cx + lx * 0.88, cv.cy + ly * 0.88)
        p0 = (medial[0] + (lateral[0] - medial[0]) * t0, medial[1] + (lateral[1] - medial[1]) * t0)
        p1 = (medial[0] + (lateral[0] - medial[0]) * t1, medial[1] + (lateral[1] - medial[1]) * t1)
        cv.bone_capsule("bone", p0, p1, 6.0 * an.lr_scale)


def _paint_scapulae(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    t = _span(sec.s, an.landmarks["scapula_top"], an.landmarks["scapula_bottom"])
    if t is None:
        return
    reach = 1.0 if t < 0.55 else max(0.12, 1.0 - (t - 0.55) / 0.45 * 0.88)
    for right in (True, False):
        points = []
        for psi in np.linspace(0.5, 0.5 + 0.95 * reach, 5):
            ix, iy = out.at("inner", float(psi), right)
            fx, fy = out.at("frame", float(psi), right)
            depth = (sec.rib_layer + 2.0) / max(np.hypot(fx - ix, fy - iy), 1.0)
            w = min(depth + 0.35, 0.8)
            points.append((cv.cx + ix + (fx - ix) * w, cv.cy + iy + (fy - iy) * w))
        for p0, p1 in zip(points, points[1:], strict=False):
            cv.capsule("bone_cortex", p0, p1, 2.5 * an.lr_scale)
        if t < 0.3:  # spine of the scapula and the glenoid
            cv.capsule("bone_cortex", points[2], (points[2][0], points[2][1] + 14.0), 4.0)
            cv.bone_ellipse("bone", *points[-1], 12.0 * an.lr_scale, 12.0 * an.lr_scale)
