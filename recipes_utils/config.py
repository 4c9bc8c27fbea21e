"""The scale of a run, and where the repository is (:data:`REPO`).

Every notebook reads its sizes (rows, draws, iterations) through :func:`by_scale`, so the same
code runs at its real size by default and on shrunken sizes when ``RECIPES_SCALE=smoke``
(what the test suite uses).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: The repository's root folder (``notebooks/``, ``data/``, ``benchmarks/`` are under it): what a notebook reads
#: stored results from, as ``REPO / "benchmarks" / "results" / "<name>.csv"``.
REPO = Path(__file__).resolve().parent.parent

ENV_VAR = "RECIPES_SCALE"
ALLOWED_SCALES = ("full", "smoke")
DEFAULT_SCALE = "full"


def get_scale() -> str:
    """Return the scale of this run, read from the ``RECIPES_SCALE`` environment variable.

    Returns
    -------
    str
        ``"full"`` (the default, when the variable is unset or empty) or ``"smoke"``.

    Raises
    ------
    ValueError
        If the variable holds any other value; the message lists the allowed values.
    """
    raw = os.environ.get(ENV_VAR, "")
    value = raw.strip().lower() or DEFAULT_SCALE
    if value not in ALLOWED_SCALES:
        raise ValueError(
            f"{ENV_VAR} must be one of {', '.join(repr(s) for s in ALLOWED_SCALES)} "
            f"(or unset for {DEFAULT_SCALE!r}), got {raw!r}"
        )
    return value


def is_smoke() -> bool:
    """True when this run is at smoke scale."""
    return get_scale() == "smoke"


def by_scale(*, full: T, smoke: T) -> T:
    """Pick a size for the current scale.

    Examples
    --------
    >>> n_draws = by_scale(full=1000, smoke=100)
    """
    return smoke if is_smoke() else full
