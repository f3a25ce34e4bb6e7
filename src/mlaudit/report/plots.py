"""Artifacts -> inline SVG with matplotlib (no computation beyond drawing what the artifact holds)."""

from __future__ import annotations

import io
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "figure.dpi": 96})


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: the SVG is inlined in HTML


def _roc_axes(ax: Any, title: str, floor: float, legend_size: int = 9) -> None:
    ax.plot([floor, 1], [floor, 1], ls="--", color="#7f8c8d", lw=1, label="chance")
    ax.set(
        xscale="log",
        yscale="log",
        xlim=(floor, 1),
        ylim=(floor, 1.05),
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=title,
    )
    # fixed decade ticks labelled as percentages, no minor ticks: matplotlib's log locators and their
    # mathtext labels took 0.7 s a figure (33 figures in the quick audit), these 0.16 s
    ticks = [10.0**e for e in range(round(np.log10(floor)), 1)]
    labels = [f"{100 * t:g}%" for t in ticks]
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(FixedFormatter(labels))
        axis.set_minor_locator(NullLocator())
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", frameon=False, fontsize=legend_size)


def roc_line(fpr: list[float], tpr: list[float], floor: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """The ROC as drawn on log axes: straight segments between consecutive points (a tie between
    members and non-members is a diagonal segment: its expected curve when ties are broken at
    random; without ties every segment is a step), densified in log space so that a segment from
    the origin shows down to `floor` instead of starting where the first tie ends."""
    f, t = np.asarray(fpr, float), np.asarray(tpr, float)
    xs, ys = [], []
    for f0, t0, f1, t1 in zip(f[:-1], t[:-1], f[1:], t[1:], strict=True):
        if f1 <= f0:
            xs += [f1, f1]
            ys += [t0, t1]
            continue
        grid = np.geomspace(max(f0, floor), f1, 12) if f1 > floor else np.array([f1])
        xs += grid.tolist()
        ys += (t0 + (t1 - t0) * (grid - f0) / (f1 - f0)).tolist()
    x, y = np.asarray(xs), np.asarray(ys)
    keep = (x >= floor) & (y > 0)
    return x[keep], y[keep]


def _step(ax: Any, fpr: list[float], tpr: list[float], **kw: Any) -> None:
    x, y = roc_line(fpr, tpr)
    if len(x):
        ax.plot(x, y, **kw)


def roc_svg(data: dict[str, Any], title: str) -> str:
    """ROC on log-log axes (Carlini et al. 2022): the low-FPR region is where a leak matters."""
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    _step(ax, data["fpr"], data["tpr"], color="#c0392b", lw=1.6, label="attack")
    _roc_axes(ax, title, 1e-4)
    return _svg(fig)


def histogram_svg(data: dict[str, Any], title: str) -> str:
    edges = data["edges"]
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    colors = ["#c0392b", "#2980b9", "#27ae60", "#8e44ad"]
    for (name, counts), c in zip(data["series"].items(), colors, strict=False):
        ax.stairs(counts, edges, label=name, color=c, lw=1.4)
    ax.set(title=title, xlabel="score", ylabel="count")
    ax.legend(frameon=False)
    return _svg(fig)


def roc_overlay_svg(curves: list[tuple[str, list[float], list[float]]], title: str) -> str:
    """Every attack's ROC on one log-log plot, so that attacks compare where it matters (low FPR)."""
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    for label, fpr, tpr in curves:
        _step(ax, fpr, tpr, lw=1.4, label=label)
    _roc_axes(ax, title, 1e-4, legend_size=7)
    return _svg(fig)


def curve_svg(data: dict[str, Any], title: str) -> str:
    """Lines over a shared x axis, e.g. robust accuracy against eps: {"x", "xlabel", "ylabel", "series"}."""
    fig, ax = plt.subplots(figsize=(3.8, 3.4))
    for name, ys in data["series"].items():
        ax.plot(data["x"], ys, marker="o", ms=3, lw=1.4, label=name)
    ax.set(title=title, xlabel=data.get("xlabel", ""), ylabel=data.get("ylabel", ""))
    if data.get("ylim"):
        ax.set_ylim(*data["ylim"])
    ax.legend(frameon=False, fontsize=7)
    return _svg(fig)


def privacy_utility_svg(data: dict[str, Any], title: str) -> str:
    """Each model of a defence comparison as a point: test accuracy (x) against the strongest attack's
    TPR at 1% FPR (y) with its interval, labelled (the undefended model, DP-SGD at each epsilon, ...);
    the 1% line is what chance gives at that FPR."""
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    for p in data["points"]:
        lo, hi = p["tpr_low"] if p["tpr_low"] is not None else p["tpr"], p["tpr_high"] or p["tpr"]
        err = [[100 * (p["tpr"] - lo)], [100 * (hi - p["tpr"])]]
        ax.errorbar([100 * p["accuracy"]], [100 * p["tpr"]], yerr=err, fmt="o", ms=4, capsize=3, label=p["label"])
    ax.axhline(1.0, ls="--", color="#7f8c8d", lw=1, label="chance (1%)")
    ax.set(title=title, xlabel="test accuracy (%)", ylabel=f"{data['attack']} TPR at 1% FPR (%)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize=7)
    return _svg(fig)


DRAW = {"roc": roc_svg, "histogram": histogram_svg, "curve": curve_svg, "privacy_utility": privacy_utility_svg}
