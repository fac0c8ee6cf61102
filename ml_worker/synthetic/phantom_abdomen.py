"""Phantom painters of the abdomen and pelvis: liver, stomach, spleen,
pancreas, kidneys with perirenal fat, bladder, and small bowel and colon loops
with their gas and fluid.
"""

from __future__ import annotations

import numpy as np

from ml_worker.synthetic.anatomy import Anatomy, Section
from ml_worker.synthetic.phantom_canvas import _Canvas, _cavity, _Outline, _span


def _paint_abdomen(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    marks, s, k = an.landmarks, sec.s, an.lr_scale
    a_in, front, back = _cavity(cv, out)
    cx, cy = cv.cx, cv.cy
    bed = ("vat",)
    if (t := _span(s, marks["dome_right"], marks["liver_tip"])) is not None:
        depth = (front + back) / 2
        cv.ellipse(
            "liver", cx - a_in * (0.12 + 0.42 * t), cy - 0.1 * front + 0.15 * t * back,
            a_in * (0.95 - 0.62 * t), depth * (0.9 - 0.5 * t), 0.0, bed,
        )  # fmt: skip
    if (t := _span(s, marks["dome_left"] + 0.25, marks["stomach_bottom"])) is not None:
        f = float(np.sin(np.pi * t) ** 0.5)
        x, y, rx, ry = cx + 0.42 * a_in, cy - 0.3 * front, 0.3 * a_in * f + 5, 0.35 * front * f + 5
        cv.ellipse("bowel", x, y, rx, ry, 0.5, bed)
        cv.ellipse("fluid", x, y, rx - 3.0, ry - 3.0, 0.5, ("bowel",))
        cv.ellipse("gas", x, y - 0.55 * ry, 0.7 * rx, 0.45 * ry, 0.0, ("fluid",))
    if (t := _span(s, marks["dome_left"] + 0.5, marks["spleen_bottom"])) is not None:
        f = float(np.sin(np.pi * t) ** 0.5)
        x, y = cx + 0.7 * a_in, cy + 0.35 * back
        cv.ellipse("spleen", x, y, 0.18 * a_in * f + 4, 0.42 * back * f + 4, -0.7, bed)
    if (t := _span(s, 19.0, 20.6)) is not None:  # pancreas
        f = float(np.sin(np.pi * t) ** 0.5)
        y_body = sec.spine_y - sec.depth / 2
        p0, p1 = (sec.spine_x - 25.0, y_body - 35.0), (sec.spine_x + 0.45 * a_in, y_body - 15.0)
        cv.capsule("soft", p0, p1, 9.0 * f * k, bed)
    _paint_kidneys(cv, an, sec)
    if (t := _span(s, marks["bladder_top"], 27.0)) is not None:
        g = min(t * 3.0, 1.0) ** 0.5
        x, y, rx, ry = cx, cy - 0.25 * front, (40 * g + 5) * k, (30 * g + 4) * k
        cv.ellipse("bowel", x, y, rx, ry, 0.0, bed)
        cv.ellipse("fluid", x, y, rx - 3.0, ry - 3.0, 0.0, ("bowel",))


def _paint_kidneys(cv: _Canvas, an: Anatomy, sec: Section) -> None:
    k = an.lr_scale
    for side in (-1.0, 1.0):  # the left kidney sits a little higher
        top = an.landmarks["kidney_right"] - (0.4 if side > 0 else 0.0)
        t = _span(sec.s, top, top + 3.1)
        if t is None:
            continue
        f = float(np.sqrt(max(1.0 - (2 * t - 1) ** 2, 0.0)))
        x = sec.spine_x + side * (sec.width / 2 + 45.0 * k)
        y = sec.spine_y + 4.0
        rx, ry = (24.0 * f + 2.0) * k, (31.0 * f + 2.0) * k
        cv.ellipse("perirenal_fat", x, y, rx + 9.0, ry + 9.0, side * 0.5, ("vat",))
        cv.ellipse("kidney", x, y, rx, ry, side * 0.5, ("perirenal_fat",))
        if 0.3 < t < 0.7:  # renal sinus fat at the hilum
            cv.ellipse("perirenal_fat", x - side * 9.0, y - 4.0, 6 * f, 9 * f, 0.0, ("kidney",))


def _bowel_loop(cv: _Canvas, x: float, y: float, rx: float, ry: float, kind: int) -> None:
    cv.ellipse("bowel", x, y, rx, ry, 0.0, ("vat",))
    content = "gas" if kind == 1 else "fluid"
    cv.ellipse(content, x, y, rx - 2.5, ry - 2.5, 0.0, ("bowel",))
    if kind == 2:  # gas rises to the anterior, non-dependent side
        cv.ellipse("gas", x, y - 0.5 * ry, 0.8 * rx, 0.45 * ry, 0.0, ("fluid",))


def _paint_bowel(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    if sec.s < 18.5:
        return
    a_in, front, back = _cavity(cv, out)
    for nx, ny, zc, rx, ry, rz, kind in an.bowel:
        dz = (sec.z - zc) / rz
        if abs(dz) < 1.0:
            f = float(np.sqrt(1.0 - dz * dz))
            x = cv.cx + nx * a_in * 0.85
            y = cv.cy + ny * (front if ny < 0 else back) * 0.85
            _bowel_loop(cv, x, y, rx * f, ry * f, int(kind))
    s, k = sec.s, an.lr_scale
    if 20.2 < s < 24.4:  # ascending colon
        _bowel_loop(cv, cv.cx - 0.72 * a_in, cv.cy + 0.05 * back, 20 * k, 18 * k, 2)
    if 19.4 < s < 24.2:  # descending colon
        _bowel_loop(cv, cv.cx + 0.74 * a_in, cv.cy + 0.15 * back, 16 * k, 15 * k, 2)
    if (t := _span(s, 20.2, 21.1)) is not None:  # transverse colon
        f = float(np.sin(np.pi * t) ** 0.5)
        for x in np.linspace(-0.6, 0.6, 5):
            _bowel_loop(cv, cv.cx + x * a_in, cv.cy - 0.55 * front, 18 * f * k, 16 * f * k, 1)
    if s > 24.5:  # rectum and sigmoid, in front of the sacrum
        _bowel_loop(cv, sec.spine_x, sec.spine_y - 45.0 * k, 17 * k, 15 * k, 2)
