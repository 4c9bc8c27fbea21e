"""Plotting helpers shared by the recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recipes_utils import config

__all__ = ["control_position", "plot_curve_band", "plot_dose_response_data", "save_gallery_figure"]


def control_position(conc) -> float:
    """Where to draw zero concentrations (untreated controls) on a log-scaled axis.

    One decade below the smallest positive concentration, so the controls sit left of the
    dose range instead of vanishing at ``log(0)``.
    """
    conc = np.asarray(conc, dtype=float)
    positive = conc[conc > 0]
    if positive.size == 0:
        raise ValueError("need at least one positive concentration to place the controls")
    return float(positive.min() / 10)


def plot_dose_response_data(ax, conc, response, *, label="observed", control_at=None, **scatter_kw):
    """Scatter dose-response data on a log concentration axis, controls drawn at ``control_at``.

    ``control_at`` defaults to :func:`control_position`; the control tick is labelled "0".
    """
    conc = np.asarray(conc, dtype=float)
    response = np.asarray(response, dtype=float)
    if conc.shape != response.shape:
        raise ValueError(f"conc and response must have the same shape, got {conc.shape} and {response.shape}")
    if (conc < 0).any() or not np.isfinite(conc).all():
        raise ValueError("concentrations must be finite and >= 0")
    has_control = (conc == 0).any()
    if has_control and control_at is None:
        control_at = control_position(conc)
    x = np.where(conc > 0, conc, control_at if has_control else 1.0)
    scatter_kw.setdefault("color", "k")
    scatter_kw.setdefault("s", 18)
    scatter_kw.setdefault("zorder", 3)
    ax.scatter(x, response, label=label, **scatter_kw)
    ax.set_xscale("log")
    if has_control:
        ax.axvline(control_at * 1.8, color="0.8", lw=0.8, ls=":")
        ax.annotate(
            "control",
            (control_at, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color="0.4",
        )
    return ax


def plot_curve_band(ax, x, draws, *, prob=0.94, color="C0", label=None, alpha=0.25):
    """Median curve and central ``prob`` band of curve draws (shape ``(n_draws, len(x))``)."""
    draws = np.asarray(draws, dtype=float)
    x = np.asarray(x, dtype=float)
    if draws.ndim != 2 or draws.shape[1] != x.shape[0]:
        raise ValueError(f"draws must have shape (n_draws, {x.shape[0]}), got {draws.shape}")
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
    lo, mid, hi = np.quantile(draws, [(1 - prob) / 2, 0.5, (1 + prob) / 2], axis=0)
    ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0, label=f"{prob:.0%} interval" if label else None)
    ax.plot(x, mid, color=color, label=label)
    return ax


def save_gallery_figure(fig, name: str, *, dpi: int = 90):
    """Save a recipe's key figure to ``docs/gallery/<name>.png`` for the README, at full scale only.

    Smoke runs (the tests) leave the committed images alone. Returns the path written, or None.
    """
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise ValueError(f"name must be letters, digits, '-' or '_', got {name!r}")
    if config.is_smoke():
        return None
    out = Path(__file__).resolve().parent.parent / "docs" / "gallery" / f"{name}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    return out
