"""Headline figures: a recipe records its key results with their tolerances; the runner collects them for the book.

In a notebook::

    from recipes_utils.book import headline
    headline("EC50, posterior mean", 3.079, "{:.2f} mM", mcse=0.003)  # an estimate: its Monte Carlo error
    headline("held-out accuracy", 0.722, "{:.1%}", band=0.005)        # a stated band
    headline("ADVI wall time", 50.2, "{:.0f} s", timing=True)         # wall times carry none

shows ``EC50, posterior mean: 3.08 ± 0.003 mM (MCSE)`` under the cell (a band shows as ``72.2% (reruns within ±
0.5%)``) and stores the record in the cell's output
under the MIME type :data:`MIME` (ignored by renderers that do not know it; GitHub shows the plain text). ``make run``
reads these outputs from each executed notebook (:func:`collect`), writes them beside the executed copy as JSON, and
shows them in ``build/index.html``; nobody types them by hand.

Every figure a run can reproduce carries a **tolerance**, the largest difference between two runs that
``make reproducible`` accepts (:func:`recipes_utils.reproduce.compare`):

- an estimate from draws gives its Monte Carlo standard error, ``mcse=``; two runs may then differ by up to
  :data:`MCSE_MULTIPLE` MCSEs (the difference of two independent estimates has sd ``sqrt(2) * mcse``, so a drift
  beyond ``4 * mcse`` happens by chance about once in 200 comparisons);
- any other number gives ``band=``, the drift the recipe states it tolerates (0 for figures computed exactly);
- a string (an interval written out, a sequence) must match exactly;
- wall times (``timing=True``) differ between runs and carry none.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["MCSE_MULTIPLE", "MIME", "collect", "headline"]

MIME = "application/vnd.bayesian-recipes.headline+json"

#: A figure with a Monte Carlo standard error may drift by this many MCSEs between two runs.
MCSE_MULTIPLE = 4.0


def _finite_nonnegative(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _format_tolerance(fmt: str, x) -> str:
    """Format ``x`` with ``fmt``, adding decimals to an ``f`` or ``%`` field until ``x`` shows a significant digit."""
    import re
    import string

    if x == 0 or isinstance(x, int):
        return fmt.format(x)
    parts = []
    for literal, field, spec, conv in string.Formatter().parse(fmt):
        parts.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        m = re.fullmatch(r"(.*?)(\.(\d+))?([f%])", spec or "")
        if m:
            scaled = x * 100 if m.group(4) == "%" else x
            decimals = max(int(m.group(3) or 6), -math.floor(math.log10(abs(scaled))))
            spec = f"{m.group(1)}.{decimals}{m.group(4)}"
        parts.append("{" + field + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}")
    return "".join(parts).format(x)


def headline(
    label: str,
    value,
    fmt: str = "{}",
    *,
    mcse: float | None = None,
    band: float | None = None,
    timing: bool = False,
) -> dict:
    """Display and record one headline figure of the running notebook.

    Parameters
    ----------
    label
        What the figure is, as a reader should see it ("ADVI wall time at 400,000 observations").
    value
        A number (int or float, finite) or a short string.
    fmt
        A ``str.format`` pattern for display, such as ``"{:.1%}"``; the tolerance is shown with the same pattern.
    mcse
        For an estimate from (Monte Carlo) draws: its Monte Carlo standard error. The reproducibility check
        accepts a drift of up to ``MCSE_MULTIPLE * mcse``.
    band
        For any other number: the drift between runs the recipe tolerates (0: must be identical).
    timing
        True for wall times: they differ between runs, so they carry no tolerance and checks skip them.

    Returns
    -------
    dict
        The record (``label``, ``value``, ``text``, ``timing``, and for reproducible numbers ``tolerance``, with
        ``mcse`` when given).

    Raises
    ------
    ValueError
        A bad label, value, format or tolerance; a number (not a timing) given neither ``mcse`` nor ``band``, or
        both; a tolerance on a string or a timing.
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
    given = [name for name, v in (("mcse", mcse), ("band", band)) if v is not None]
    if timing or isinstance(value, str):
        if given:
            what = "a wall time" if timing else "a string (strings must match exactly)"
            raise ValueError(f"{label!r}: {what} takes no {given[0]}")
        shown = text
    else:
        if len(given) != 1:
            raise ValueError(
                f"{label!r}: give its tolerance, mcse= (an estimate from draws) or band= (a stated drift; 0 for an "
                f"exact figure), exactly one of them; got {given or 'neither'}"
            )
        if mcse is not None:
            record["mcse"] = _finite_nonnegative("mcse", mcse)
            record["tolerance"] = MCSE_MULTIPLE * record["mcse"]
            shown = f"{text} ± {_format_tolerance(fmt, float(mcse))} (MCSE)"
        else:
            record["tolerance"] = _finite_nonnegative("band", band)
            band_shown = int(band) if isinstance(value, int) and float(band).is_integer() else float(band)
            # not "±": that reads as a standard error; the band is how far a rerun may drift
            shown = f"{text} (reruns within ± {_format_tolerance(fmt, band_shown)})" if band > 0 else text
    record["shown"] = shown
    try:
        from IPython.display import display

        display({MIME: record, "text/plain": f"{record['label']}: {shown}"}, raw=True)
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
