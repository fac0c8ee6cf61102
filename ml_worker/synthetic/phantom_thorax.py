"""Phantom painters of the thorax and neck: lungs, diaphragm, mediastinum and
heart; pharynx, trachea, bronchi, oesophagus and thyroid; the aorta, caval,
pulmonary, neck and iliac vessels.
"""

from __future__ import annotations

import numpy as np

from ml_worker.synthetic.anatomy import Anatomy, Section
from ml_worker.synthetic.phantom_canvas import (
    _SIN,
    _Canvas,
    _cavity,
    _Outline,
    _span,
    _Win,
    _window_of,
)
from ml_worker.synthetic.phantom_tissues import ID


def _paint_thorax(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    """Lungs above the diaphragm, the diaphragm, the mediastinum and the heart.
    The diaphragm is a surface: highest at the domes (right above left), lowest
    in the posterior costophrenic recesses at the lung bases."""
    marks = an.landmarks
    z_base = an.z_of_std(marks["lung_base"])
    if sec.s < marks["lung_apex"] - 0.05 or sec.z < z_base - 8.0:
        return
    win = _window_of(cv, float(out.inner.max()))
    if win is None:
        return
    ids, r, t = cv.ids[win.rs, win.cs], cv.r[win.rs, win.cs], cv.t[win.rs, win.cs]
    cavity = ids == ID["vat"]
    q = np.minimum(r / np.maximum(out.inner[t], 1.0) * (0.68 + 0.32 * _SIN[t]), 1.0)
    s_right, s_left = marks["dome_right"], marks["dome_left"]
    dome = s_right + (s_left - s_right) * np.clip((win.x - cv.cx) / 60.0 + 0.5, 0.0, 1.0)
    # In standard levels, so a T13 leaves the diaphragm's course past T1..T12 alone.
    z_surface = an.z_of_std_array(dome + (marks["lung_base"] - dome) * q**1.6)
    above = cavity & (sec.z > z_surface)
    ids[above] = ID["mediastinal_fat"]
    ids[cavity & ~above & (sec.z > z_surface - 6.0)] = ID["diaphragm"]
    ids[above & _lung_shape(cv, an, sec, out, win)] = ID["lung"]
    _paint_heart(cv, an, sec, out)


def _lung_shape(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline, win: _Win) -> np.ndarray:
    """Where lung may be: outside the mediastinum, and inside the apices near the top."""
    a_in, front, _ = _cavity(cv, out)
    y_front, y_spine = cv.cy - front, sec.spine_y
    half_front = 26.0 if sec.s < 10.5 else 9.0
    half_back = sec.width / 2 + 4.0
    f = np.clip((win.y - y_front) / max(y_spine - y_front, 1.0), 0.0, 1.0)
    shape = np.abs(win.x - sec.spine_x) > half_front + (half_back - half_front) * f
    grow = np.sqrt(np.clip((sec.s - an.landmarks["lung_apex"]) / 2.2, 0.0, 1.0))
    if grow < 1.0:
        apices = np.zeros(shape.shape, dtype=bool)
        for side in (-1.0, 1.0):
            ax, by = 0.5 * a_in * grow + 3.0, 0.6 * front * grow + 3.0
            cx, cy = cv.cx + side * 0.45 * a_in, cv.cy + 0.2 * front
            apices |= ((win.x - cx) / ax) ** 2 + ((win.y - cy) / by) ** 2 <= 1.0
        shape &= apices
    return shape


def _paint_heart(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    t = _span(sec.s, an.landmarks["heart_top"], an.landmarks["heart_bottom"])
    if t is None:
        return
    f = float(np.sin(np.pi * t**0.75) ** 0.6)
    a_in, front, _ = _cavity(cv, out)
    y_front = cv.cy - front
    depth = sec.spine_y - sec.depth / 2 - y_front
    hx, hy = cv.cx + 0.22 * a_in, y_front + 0.45 * depth
    ax, by = 0.38 * a_in * f + 6.0, 0.36 * depth * f + 5.0
    chest = ("lung", "mediastinal_fat")
    cv.ellipse("mediastinal_fat", hx, hy, ax + 4.0, by + 4.0, -0.45, chest)
    cv.ellipse("heart", hx, hy, ax, by, -0.45, chest)
    cv.ellipse("blood", hx - 0.3 * ax, hy, 0.42 * ax, 0.55 * by, -0.45, ("heart",))
    cv.ellipse("blood", hx + 0.3 * ax, hy + 0.1 * by, 0.33 * ax, 0.5 * by, -0.45, ("heart",))


def _paint_airway_and_vessels(cv: _Canvas, an: Anatomy, sec: Section, out: _Outline) -> None:
    marks, s, k = an.landmarks, sec.s, an.lr_scale
    a_in, front, _ = _cavity(cv, out)
    y_body = sec.spine_y - sec.depth / 2  # front of the vertebral body
    ty = y_body - 20.0 * k  # trachea
    x0 = sec.spine_x
    soft = ("mediastinal_fat", "lung", "vat", "muscle")
    if s < 4.6:  # pharynx
        cv.ellipse("gas", x0, y_body - 12.0, 14.0 * k, 6.0 * k, 0.0, soft)
    elif s < marks["carina"]:
        radius = (10.0 if s < 5.4 else 8.0) * k
        cv.ellipse("soft", x0, ty, radius + 2.5, radius + 2.5, 0.0, soft)
        cv.ellipse("gas", x0, ty, radius, radius * 0.9, 0.0, ("soft",))
        if s < 5.2:  # thyroid cartilage
            for side in (-1.0, 1.0):
                cv.capsule("cartilage", (x0 + side * 15 * k, ty + 2), (x0, ty - 15 * k), 1.6, soft)
    if (t := _span(s, marks["carina"], marks["carina"] + 0.9)) is not None:
        for side in (-1.0, 1.0):
            bx, by = x0 + side * (8.0 + 30.0 * t) * k, ty + 6.0 * t
            cv.ellipse("soft", bx, by, 8.0 * k, 8.0 * k, 0.0, ("mediastinal_fat", "lung"))
            cv.ellipse("gas", bx, by, 5.5 * k, 5.5 * k, 0.0, ("soft",))
    if 4.8 < s < marks["dome_left"] + 0.4:  # oesophagus
        cv.ellipse("soft", x0 + 4.0, y_body - 6.0, 7.0 * k, 5.5 * k, 0.0, soft)
    if (t := _span(s, 5.2, 7.1)) is not None:  # thyroid lobes
        f = float(np.sin(np.pi * t) ** 0.5)
        for side in (-1.0, 1.0):
            cv.ellipse(
                "thyroid", x0 + side * 17 * k, ty - 2, 8 * k * f, 14 * k * f, side * 0.4, soft
            )
    if s < 7.3:
        for side in (-1.0, 1.0):
            cv.ellipse("blood", x0 + side * 26 * k, ty + 4, 4.5 * k, 4.5 * k, 0.0, soft)
            cv.ellipse("blood", x0 + side * 37 * k, ty + 1, 7 * k, 5 * k, 0.0, soft)
    _paint_great_vessels(cv, an, sec, a_in, cv.cy - front, ty)


def _paint_great_vessels(
    cv: _Canvas, an: Anatomy, sec: Section, a_in: float, y_front: float, ty: float
) -> None:
    marks, s, k, x0 = an.landmarks, sec.s, an.lr_scale, sec.spine_x
    y_body = sec.spine_y - sec.depth / 2
    depth = y_body - y_front
    soft = ("mediastinal_fat", "lung", "vat")
    ascending = (x0 - 12.0 * k, y_front + 0.42 * depth)
    thoracic = float(np.clip((s - 17.0) / 2.5, 0.0, 1.0))
    descending = (
        x0 + (sec.width / 2 * 0.55 + 9.0) * (1 - thoracic) + 9.0 * thoracic,
        y_body - 5.0 - 9.0 * thoracic,
    )
    if marks["aortic_arch"] < s < marks["bifurcation"]:
        radius = (12.0 - 2.0 * thoracic) * k
        cv.ellipse("blood", *descending, radius, radius, 0.0, soft)
    if marks["aortic_arch"] - 0.35 < s < marks["aortic_arch"] + 0.3:
        cv.capsule("blood", ascending, descending, 13.0 * k, soft)
    if marks["aortic_arch"] < s < marks["heart_top"] + 1.6:
        cv.ellipse("blood", *ascending, 15.0 * k, 15.0 * k, 0.0, soft)
        cv.ellipse("blood", ascending[0] - 24 * k, ascending[1] + 4, 10 * k, 10 * k, 0.0, soft)
    if 6.9 < s < marks["aortic_arch"] - 0.3:  # arch branches
        for dx in (-14.0, 2.0, 14.0):
            cv.ellipse("blood", x0 + dx * k, ty - 14.0 * k, 5.5 * k, 5.5 * k, 0.0, soft)
    if (t := _span(s, marks["carina"] - 0.1, marks["carina"] + 1.4)) is not None:
        cv.ellipse("blood", x0 + 14 * k, y_front + 0.3 * depth, 13 * k, 11 * k, 0.0, soft)
        for side in (-1.0, 1.0):  # hilar vessels
            cv.ellipse(
                "blood", x0 + side * (sec.width / 2 + 22) * k, ty + 10, 10 * k, 8 * k, 0, soft
            )
    if marks["dome_right"] + 0.3 < s < marks["bifurcation"] + 0.3:  # inferior vena cava
        cv.ellipse("blood", x0 - (sec.width * 0.3 + 12.0), y_body - 12.0, 13 * k, 10 * k, 0, soft)
    if (t := _span(s, marks["bifurcation"], marks["bifurcation"] + 2.2)) is not None:
        for side in (-1.0, 1.0):  # iliac arteries and veins
            x = x0 + side * (12.0 + 45.0 * t) * k
            cv.ellipse("blood", x, y_body - 14.0 - 12.0 * t, 6.5 * k, 6.5 * k, 0.0, soft)
            cv.ellipse("blood", x - side * 4.0, y_body - 4.0 - 10.0 * t, 8 * k, 7 * k, 0.0, soft)
