"""Cohort plots as PNG, drawn server-side with matplotlib's object API (no
pyplot: no global state, safe in threads): the distribution of SMI per sex and
centre at one level. Only rows with a value are drawn; the count of rows
without one is written on the plot, so missing values are visible, not zero."""

import io
from collections import defaultdict
from collections.abc import Iterable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SEX_COLOURS = {"F": "#c2410c", "M": "#1d4ed8"}
OTHER_COLOUR = "#6b7280"


def smi_distribution_png(points: Iterable[tuple[str, str, float | None]], *, level: str) -> bytes:
    """`points` are (sex, institution code, SMI or None) of one level's rows."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    missing = 0
    for sex, centre, smi in points:
        if smi is None:
            missing += 1
        else:
            groups[(sex or "?", centre)].append(smi)
    keys = sorted(groups)
    figure = Figure(figsize=(max(4.0, 1.1 * len(keys) + 2), 3.6), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if keys:
        boxes = axes.boxplot([groups[k] for k in keys], patch_artist=True, widths=0.6)
        for patch, (sex, _) in zip(boxes["boxes"], keys, strict=True):
            patch.set_facecolor(SEX_COLOURS.get(sex, OTHER_COLOUR))
            patch.set_alpha(0.45)
        for i, key in enumerate(keys, start=1):
            values = groups[key]
            axes.plot([i] * len(values), values, "o", color="black", markersize=3, alpha=0.6)
        axes.set_xticks(range(1, len(keys) + 1))
        axes.set_xticklabels([f"{sex} · {centre}\nn={len(groups[(sex, centre)])}"
                              for sex, centre in keys])  # fmt: skip
    else:
        axes.text(0.5, 0.5, "no SMI values", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
    axes.set_ylabel("SMI (cm²/m²)")
    title = f"Skeletal muscle index at {level} by sex and centre"
    axes.set_title(title + (f" ({missing} without SMI)" if missing else ""), fontsize=10)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
