"""Headline figures: a recipe records its key results, the runner collects them for the book's index.

In a notebook::

    from recipes_utils.book import headline
    headline("held-out accuracy", acc, "{:.1%}")

shows ``held-out accuracy: 72.2%`` under the cell and stores the value in the cell's output under the MIME type
:data:`MIME` (ignored by renderers that do not know it; GitHub shows the plain text). ``make run`` reads these
outputs from each executed notebook (:func:`collect`), writes them beside the executed copy as JSON, and shows
them in ``build/index.html``; nobody types them by hand.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["MIME", "collect", "headline"]

MIME = "application/vnd.bayesian-recipes.headline+json"


def headline(label: str, value, fmt: str = "{}", *, timing: bool = False) -> dict:
    """Display and record one headline figure of the running notebook.

    Parameters
    ----------
    label
        What the figure is, as a reader should see it ("ADVI wall time at 400,000 observations").
    value
        A number (int or float, finite) or a short string.
    fmt
        A ``str.format`` pattern for display, such as ``"{:.1%}"``.
    timing
        True for wall times: they differ between runs, so reproducibility checks skip them.

    Returns
    -------
    dict
        The record (``label``, ``value``, ``text``, ``timing``).
    """
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real | str):
        raise TypeError(f"value must be a number or a string, got {type(value).__name__}")
    if isinstance(value, numbers.Real):
        value = float(value) if not isinstance(value, numbers.Integral) else int(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"value must be finite, got {value}")
    try:
        text = fmt.format(value)
    except (ValueError, IndexError, KeyError) as err:
        raise ValueError(f"fmt {fmt!r} cannot format {value!r}: {err}") from None
    record = {"label": label.strip(), "value": value, "text": text, "timing": bool(timing)}
    try:
        from IPython.display import display

        display({MIME: record, "text/plain": f"{record['label']}: {text}"}, raw=True)
    except ImportError:  # outside IPython: just return the record
        pass
    return record


def collect(nb) -> list[dict]:
    """The headline records stored in an executed notebook (an ``nbformat`` node), in order."""
    records = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME in data:
                records.append(dict(data[MIME]))
    return records
