"""Phantom painters of the body wall: the outline (skin, fascia, inner wall,
breasts, gluteal cleft) built from a `Section`, subcutaneous fat, the muscle
wall with its fat planes, and the paraspinal, psoas, quadratus, crural, neck
and iliacus muscles with their fatty infiltration.
"""

from __future__ import annotations

import numpy as np

from ml_worker.synthetic.anatomy import Anatomy, Section
from ml_worker.synthetic.phantom_canvas import (
    _COS,
    _SIN,
    _TH,
    _Canvas,
    _Outline,
    _span,
    _Win,
    _window_of,
)
from ml_worker.synthetic.phantom_skeleton import _iliac_wings
from ml_worker.synthetic.phantom_tissues import ID


def _blend(ant: float, lat: float, post: float) -> np.ndarray:
    front, back = np.maximum(-_SIN, 0) ** 2, np.maximum(_SIN, 0) ** 2
    return lat + (ant - lat) * front + (post - lat) * back


def _outline(anatomy: Anatomy, sec: Section) -> _Outline:
    trunk = sec.s > 6.8
    b = np.where(_SIN > 0, sec.b_post, sec.b_ant)
    p = np.where(_SIN > 0, sec.p + (0.6 if trunk else 0.0), sec.p)
    frame = (np.abs(_COS / sec.a) ** p + np.abs(_SIN / b) ** p) ** (-1.0 / p)
    back = np.exp(-(((_TH - np.pi / 2) / 0.12) ** 2))
    if 10.0 < sec.s < 23.5:  # the midline groove between the erector spinae
        frame = frame - 5.0 * back
    body = frame + _blend(sec.sat_ant, sec.sat_lat, sec.sat_post)
    if anatomy.breast_mm and 9.3 < sec.s < 13.8:
        height = anatomy.breast_mm * np.sin(np.pi * (sec.s - 9.3) / 4.5)
        for side in (-1.0, 1.0):
            body = body + height * np.exp(-(((_TH + np.pi / 2 + side * 0.8) / 0.38) ** 2))
    if sec.s > 24.6:  # gluteal cleft
        body = body - min((sec.s - 24.6) * 40.0, 25.0) * np.exp(-(((_TH - np.pi / 2) / 0.07) ** 2))
    inner = frame - _blend(sec.wall_ant, sec.wall_lat, sec.wall_post)
    return _Outline(body.astype(np.float32), frame.astype(np.float32), inner.astype(np.float32))


def _paint_body(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    win = _window_of(cv, float(out.body.max()))
    if win is None:
        return
    r, t = cv.r[win.rs, win.cs], cv.t[win.rs, win.cs]
    ids = cv.ids[win.rs, win.cs]
    frame, inner = out.frame[t], out.inner[t]
    ids[r < out.body[t]] = ID["sat"]
    ids[r < frame] = ID["muscle"]
    neck = sec.s < an.landmarks["lung_apex"] - 0.05
    ids[r < inner] = ID["mediastinal_fat"] if neck else ID["vat"]
    wall = (r >= inner) & (r < frame)
    wr, wt = r[wall], t[wall]
    din = wr - inner[wall]
    thick = frame[wall] - inner[wall]
    values = ids[wall]
    fat = np.zeros(wr.shape, dtype=bool)
    if sec.rib_layer:  # the plane between the intercostals and the outer muscles
        fat |= (
            (din > sec.rib_layer + 0.3) & (din < sec.rib_layer + 1.5) & (thick > sec.rib_layer + 6)
        )
    if 17.5 < sec.s < 24.3:  # planes between the oblique and transverse muscles
        lateral = np.abs(_SIN[wt]) < 0.75
        for fraction in (0.36, 0.66):
            fat |= lateral & (np.abs(thick - din - fraction * thick) < 0.6)
    values[fat] = ID["imat"]
    if sec.s > 15.5:  # linea alba: the recti part in the midline
        values[(_SIN[wt] < -0.9) & (np.abs(wr * _COS[wt]) < 4.0)] = ID["sat"]
    ids[wall] = values


def _paint_muscles(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    _paint_paraspinal(cv, an, sec, out)
    _paint_psoas(cv, an, sec)
    if sec.s < 7.2:
        _paint_neck_muscles(cv, an, sec, out)
    grow = min(max((sec.s - an.landmarks["crest"]) / 1.0, 0.0), 1.0)
    for wing in _iliac_wings(cv, an, sec, out):  # iliacus lines the iliac fossa
        inward = [(x + (cv.cx - x) * 0.1, y + (cv.cy - y) * 0.1) for x, y in wing.plate]
        for p0, p1 in zip(inward, inward[1:], strict=False):
            cv.capsule("muscle", p0, p1, 10.0 * an.muscle * grow, ("vat",))


# Erector spinae + multifidus half-width along the standard level coordinate.
_PARASPINAL_S = (0.0, 5.0, 7.0, 9.0, 13.0, 18.0, 21.0, 23.0, 24.3, 25.2)
_PARASPINAL_W = (42.0, 42.0, 34.0, 28.0, 28.0, 34.0, 44.0, 46.0, 38.0, 16.0)


def _infiltration_threshold(fraction: float) -> float:
    """Threshold on a sum of three plane waves that marks `fraction` of the area."""
    return float(np.interp(fraction, _INFILTRATION_FRACTIONS, _INFILTRATION_THRESHOLDS))


_WAVES = np.sin(np.random.default_rng(0).uniform(0, 2 * np.pi, (3, 40000))).sum(axis=0)
_INFILTRATION_FRACTIONS = np.linspace(0.0, 0.3, 31)
_INFILTRATION_THRESHOLDS = np.quantile(_WAVES, 1.0 - _INFILTRATION_FRACTIONS)


def _infiltration(an: Anatomy, win: _Win, z: float) -> np.ndarray:
    """Irregular streaks of fat, fixed in 3-D so neighbouring slices agree."""
    rng = np.random.default_rng([an.seed, 11])
    total = np.zeros((win.y.size, win.x.size), dtype=np.float32)
    for _ in range(3):
        angle, k, kz, phase = (
            rng.uniform(0, np.pi),
            rng.uniform(0.5, 0.9),
            rng.uniform(0.2, 0.4),
            rng.uniform(0, 2 * np.pi),
        )
        total += np.sin(k * (win.x * np.cos(angle) + win.y * np.sin(angle)) + kz * z + phase)
    return total > _infiltration_threshold(an.imat)


def _paint_paraspinal(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    width = float(np.interp(sec.s, _PARASPINAL_S, _PARASPINAL_W)) * an.lr_scale * an.muscle**0.7
    y_front = sec.spine_y + sec.depth / 2 + sec.canal_d * 0.4
    y_back = cv.cy + out.at("frame", 0.3, True)[1] - 1.0
    if y_back - y_front < 6.0:
        return
    ry, yc = (y_back - y_front) / 2, (y_back + y_front) / 2
    bed = ("muscle", "vat", "mediastinal_fat", "lung", "imat")
    for side in (-1.0, 1.0):
        xc = sec.spine_x + side * (4.0 + width / 2)
        cv.ellipse("paraspinal", xc, yc, width / 2 + 2.0, ry, 0.0, bed)
        p0 = (sec.spine_x + side * (4.0 + 0.5 * width), y_front + 0.2 * (y_back - y_front))
        p1 = (sec.spine_x + side * (4.0 + 0.38 * width), y_back - 0.12 * (y_back - y_front))
        cv.capsule("imat", p0, p1, 0.6, ("paraspinal",))
    win = cv.window(sec.spine_x - width - 8, sec.spine_x + width + 8, y_front, y_back)
    if win is None or an.imat <= 0:
        return
    cv.put(win, _infiltration(an, win, sec.z), "imat", ("paraspinal",))


def _paint_psoas(cv: _Canvas, an: Anatomy, sec: Section) -> None:
    s, m, k = sec.s, an.muscle**0.8, an.lr_scale
    top = an.landmarks["psoas_top"]
    if top < s < 25.0:
        g = min((s - top) / (23.6 - top), 1.0) ** 0.8
        rx, ry = (4.0 + 19.0 * g) * m * k, (4.0 + 16.0 * g) * m * k
        drift = max(s - 23.6, 0.0)  # in the pelvis it runs forwards and out
        for side in (-1.0, 1.0):
            x = sec.spine_x + side * (sec.width / 2 + rx * 0.75 + 22.0 * drift)
            y = sec.spine_y - sec.depth * 0.05 - 28.0 * drift
            cv.ellipse("psoas", x, y, rx, ry, 0.0, ("vat", "muscle", "diaphragm"))
    if (t := _span(s, 19.0, 22.9)) is not None:  # quadratus lumborum
        f = float(np.sin(np.pi * t) ** 0.5)
        for side in (-1.0, 1.0):
            x = sec.spine_x + side * (sec.width / 2 + 40.0 * k)
            y = sec.spine_y + sec.depth / 2 + 6.0
            cv.ellipse("muscle", x, y, 17 * f * m * k, 8 * f * m * k, side * 0.35, ("vat",))
    if an.landmarks["dome_right"] + 1.6 < s < 20.4:  # diaphragmatic crura
        for side in (-1.0, 1.0):
            p0 = (sec.spine_x + side * (sec.width / 2 - 2.0), sec.spine_y - sec.depth * 0.2)
            p1 = (sec.spine_x + side * 7.0, sec.spine_y - sec.depth / 2 - 16.0)
            cv.capsule("diaphragm", p0, p1, 3.0, ("vat",))


def _paint_neck_muscles(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    m, k = an.muscle, an.lr_scale
    y_body = sec.spine_y - sec.depth / 2
    ty = y_body - 20.0 * k
    bed = ("mediastinal_fat", "muscle")
    for right in (True, False):
        side = -1.0 if right else 1.0
        x_edge = cv.cx + out.at("frame", np.pi / 2, right)[0]
        cv.ellipse("muscle", x_edge - side * 12 * k, ty + 4, 8 * m * k, 18 * m * k, side * 0.5, bed)
        cv.ellipse("muscle", sec.spine_x + side * 7 * k, y_body - 3, 6 * m, 4 * m, 0.0, bed)
        cv.capsule("muscle", (side * 4 * k, ty - 14 * k), (side * 22 * k, ty - 9 * k), 2.5, bed)
