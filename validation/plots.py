"""The report's figures, drawn with matplotlib as SVG text to embed in the HTML report.

The SVG is made reproducible (fixed id salt, no creation date) and keeps
its text as text, so the report reads the same offline, in any browser,
and can be searched.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib
from matplotlib.figure import Figure

matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "dosefinding-validation",
                            "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})

COLOURS = {"pass": "#2e7d32", "deviation": "#f9a825", "fail": "#c62828", "r": "#1f4e9c", "project": "#d2691e"}


def _svg(figure: Figure, tight: bool = False) -> str:
    """The figure as SVG text; ``tight`` crops it to its content (one more layout pass)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight" if tight else None)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def agreement_by_family(families: list[dict[str, Any]]) -> str:
    """Per family, the share of cases that pass, deviate as documented, or fail (stacked bars)."""
    figure = Figure(figsize=(7.5, 0.32 * len(families) + 1.0))
    axes = figure.subplots()
    names = [f"{f['family']} (n={f['cases']})" for f in families][::-1]
    left = [0.0] * len(families)
    for status in ("pass", "deviation", "fail"):
        shares = [100.0 * f[status] / f["cases"] if f["cases"] else 0.0 for f in families][::-1]
        axes.barh(names, shares, left=left, color=COLOURS[status], label=status)
        left = [a + b for a, b in zip(left, shares)]
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of the family's reference cases")
    axes.legend(ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.5 / len(families) - 0.12), frameon=False)
    return _svg(figure, tight=True)


def operating_characteristics(case: dict[str, Any]) -> str:
    """R's and the project's estimates of each quantity of a Monte Carlo case, with ±2 standard error bars."""
    quantities: dict[str, list[dict[str, Any]]] = {}
    for row in case["components"]:
        if isinstance(row["r"], (int, float)) and isinstance(row["project"], (int, float)):
            quantities.setdefault(row["quantity"], []).append(row)
    columns = 3
    rows = max(1, -(-len(quantities) // columns))
    figure = Figure(figsize=(7.5, 2.3 * rows))
    figure.subplots_adjust(left=0.08, right=0.98, top=1 - 0.35 / rows, bottom=0.3 / rows, hspace=1.0, wspace=0.35)
    axes_grid = figure.subplots(rows, columns, squeeze=False)
    for axes, (quantity, points) in zip(axes_grid.flat, quantities.items()):
        positions = range(len(points))
        for offset, side, label in ((-0.12, "r", "R"), (0.12, "project", "project")):
            errors = [2 * (p[f"{side}_se"] or 0.0) for p in points]
            axes.errorbar([x + offset for x in positions], [p[side] for p in points], yerr=errors, fmt="o",
                          markersize=3, capsize=2, color=COLOURS[side], label=label)
        axes.set_title(quantity)
        axes.set_xlim(-0.6, len(points) - 0.4)
        axes.set_xticks(list(positions), [p["component"] for p in points], rotation=45, ha="right")
    for axes in list(axes_grid.flat)[len(quantities):]:
        axes.set_visible(False)
    handles, labels = axes_grid.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper right", ncols=2, frameon=False)
    return _svg(figure)
