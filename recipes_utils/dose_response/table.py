"""The tidy table a dose-response model reads, and its checks.

:func:`prepare_grouped` checks a table (one row per measurement, column names as arguments) and turns it into the
arrays of :class:`GroupedDoseResponse`; :func:`replicate_cells` and :func:`curve_points` regroup those rows into
replicate cells and distinct (group, dose) points, which the builders use to make each gradient cheaper.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

_N_CURVE_PARAMS = 4


class GroupedDoseResponse(NamedTuple):
    """Validated arrays from a tidy dose-response table (see :func:`prepare_grouped`)."""

    group_idx: np.ndarray  # int64 code of each row's group, 0..n_groups-1 (0 for a shared control row)
    groups: list  # group labels, in code order
    log_conc: np.ndarray  # float; -inf marks an untreated control (concentration 0)
    response: np.ndarray  # float
    shared_control: np.ndarray  # bool: the row is an untreated control shared by every group
    trials: np.ndarray | None = None  # float: each row's number of trials (binomial responses count its successes)


def prepare_grouped(
    data: pd.DataFrame,
    *,
    group: str = "group",
    response: str = "response",
    concentration: str | None = None,
    log_concentration: str | None = None,
    zero_is_control: bool = False,
    shared_controls=None,
    min_points: int = _N_CURVE_PARAMS,
    trials: str | None = None,
) -> GroupedDoseResponse:
    """Check a tidy dose-response table and turn it into arrays for the model.

    Give the dose as ``concentration`` (> 0; the column ``"concentration"`` by default) or as
    ``log_concentration`` (natural log, finite), not both. A concentration of 0 is an untreated control;
    it is accepted only with ``zero_is_control=True`` and then sits exactly at the group's ``top``.
    ``shared_controls`` names the group label of untreated controls measured once for all groups (drc's
    ``acidiq`` marks them ``pct == 999``): those rows must have concentration 0 and belong to no curve.
    ``trials`` names a column of numbers of trials, of which the response counts the successes (a binomial
    response): it is read as numbers here (its values are checked by the likelihood), and the response is then
    constant when the proportions are. With ``trials``, a boolean response (one yes/no per row) is read as 0/1
    successes.

    Raises
    ------
    TypeError
        ``data`` is not a DataFrame, or the response is boolean without ``trials`` (yes/no data need a binomial
        model: trials a column of 1s).
    ValueError
        A missing or repeated column, a non-numeric or missing value, a negative (or, without ``zero_is_control``,
        zero) concentration, a group with fewer than ``min_points`` rows (a 4PL curve has 4 parameters), shared
        controls that are absent or dosed, or a table no curve can be fitted to: a constant response, fewer than
        two distinct positive doses. Each message names the column, the rows or the groups at fault.
    """
    concentration, dose_col = _check_table(
        data,
        response=response,
        concentration=concentration,
        log_concentration=log_concentration,
        others={"group": group} if trials is None else {"group": group, "trials": trials},
    )
    if data[group].isna().any():
        raise ValueError(f"column {group!r} has {int(data[group].isna().sum())} missing group label(s)")
    shared = np.zeros(len(data), dtype=bool)
    if shared_controls is not None:
        if log_concentration is not None:
            raise ValueError("shared_controls are untreated (concentration 0): give the dose as concentration=")
        shared = (data[group] == shared_controls).to_numpy()
        if not shared.any():
            raise ValueError(f"shared_controls={shared_controls!r}: no row of column {group!r} has that label")
    y = _read_response(data, response, boolean_ok=trials is not None)
    log_conc = _read_dose(data, concentration, log_concentration, zero_is_control, shared, shared_controls)[1]
    dosed_values = np.unique(log_conc[np.isfinite(log_conc)])
    if len(dosed_values) == 0:
        raise ValueError(f"column {dose_col!r} has no positive dose: every row is an untreated control")
    if len(dosed_values) < 2:
        raise ValueError(
            f"column {dose_col!r} has a single dose ({float(np.exp(dosed_values[0])):.4g}): a dose-response curve "
            "needs at least two (better five or more) distinct doses"
        )
    n_trials = None if trials is None else _numeric(data, trials)
    if n_trials is not None and (n_trials <= 0).any():
        raise ValueError(
            f"column {trials!r} must hold numbers of trials >= 1; {int((n_trials <= 0).sum())} row(s) do not"
        )
    level = y if n_trials is None else y / n_trials
    if np.ptp(level) == 0:
        what = "constant" if n_trials is None else f"a constant proportion of {trials!r}"
        raise ValueError(f"column {response!r} is {what} ({level[0]:.4g} in every row): there is no curve to fit")

    if shared.all():
        raise ValueError("every row is a shared control: there is no group to fit a curve to")
    codes = np.zeros(len(data), dtype="int64")
    codes[~shared], labels = pd.factorize(data[group][~shared], sort=True)
    labels = labels.tolist()  # plain Python labels (1, not np.int64(1)) for messages and coords
    counts = np.bincount(codes[~shared], minlength=len(labels))
    small = np.flatnonzero(counts < min_points)
    if len(small):
        shown = ", ".join(f"{labels[i]!r} ({counts[i]})" for i in small[:5])
        raise ValueError(
            f"{len(small)} group(s) have fewer than {min_points} measurements, too few for a {min_points}-parameter "
            "curve: "
            f"{shown}{' ...' if len(small) > 5 else ''}. Drop them or pool them with similar groups."
        )
    return GroupedDoseResponse(codes.astype("int64"), labels, log_conc, y, shared, n_trials)


def _check_table(data, *, response, concentration, log_concentration, others: dict | None = None) -> tuple:
    """Check that ``data`` is a DataFrame with rows and one column of each name it is read by; returns the
    concentration column (``"concentration"`` when no dose column is named) and the dose column."""
    others = others or {}
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame (one row per measurement), got {type(data).__name__}")
    if concentration is not None and log_concentration is not None:
        raise ValueError("give the dose as concentration or as log_concentration, not both")
    if concentration is None and log_concentration is None:
        concentration = "concentration"
    dose_col = concentration if concentration is not None else log_concentration
    roles = {**others, "dose": dose_col, "response": response}
    for role, name in roles.items():
        if not isinstance(name, Hashable):
            raise TypeError(f"with a table, give the {role} as a column name, got a {type(name).__name__}")
    names = tuple(roles.values())
    if len(set(names)) < len(names):
        raise ValueError(f"{', '.join(roles)} must be different columns, got {names}: one column cannot play two roles")
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise ValueError(f"data lacks column(s) {missing}; it has {list(data.columns)}")
    repeated = [c for c in dict.fromkeys(names) if (data.columns == c).sum() > 1]
    if repeated:
        raise ValueError(
            f"data has more than one column named {repeated}: rename them so that one name means one column"
        )
    if len(data) == 0:
        raise ValueError("data has no rows")
    return concentration, dose_col


def _numeric(data: pd.DataFrame, col) -> np.ndarray:
    values = pd.to_numeric(data[col], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(np.isnan(values))
    if len(bad):
        examples = data[col].iloc[bad[:3]].tolist()
        raise ValueError(
            f"column {col!r} must be numeric with no missing values; {len(bad)} row(s) are not "
            f"(first at positions {bad[:3].tolist()}: {examples})"
        )
    return values


def _is_boolean(column: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(column) or pd.api.types.infer_dtype(column, skipna=True) == "boolean"


def _read_response(data: pd.DataFrame, response, boolean_ok: bool = False) -> np.ndarray:
    """The response column as floats; a boolean column (yes/no) is refused, or with ``boolean_ok`` (a binomial
    response, whose trials are given) read as 0/1 successes."""
    if _is_boolean(data[response]):
        if not boolean_ok:
            raise TypeError(
                f"column {response!r} is boolean: a yes/no response needs a binomial model (likelihood='binomial' "
                "with trials= naming a column of 1s, each row one trial), or cast it to 0/1 (.astype(int))"
            )
        return _numeric(data.assign(**{response: data[response].map({True: 1.0, False: 0.0})}), response)
    y = _numeric(data, response)
    if not np.isfinite(y).all():
        raise ValueError(f"column {response!r} has infinite values")
    return y


def _read_dose(data, concentration, log_concentration, zero_is_control, shared=None, shared_controls=None):
    """The dose column's values as given and the log concentrations (-inf for an untreated control)."""
    shared = np.zeros(len(data), dtype=bool) if shared is None else shared
    if log_concentration is not None:
        log_conc = _numeric(data, log_concentration)
        if not np.isfinite(log_conc).all():
            raise ValueError(
                f"column {log_concentration!r} has infinite values; give controls as concentration 0 "
                "through `concentration=` with zero_is_control=True"
            )
        return log_conc, log_conc
    conc = _numeric(data, concentration)
    if np.isinf(conc).any():
        raise ValueError(f"column {concentration!r} has infinite values")
    negative = np.flatnonzero(conc < 0)
    if len(negative):
        raise ValueError(
            f"column {concentration!r} has {len(negative)} negative concentration(s) "
            f"(first at positions {negative[:3].tolist()}); concentrations must be >= 0"
        )
    dosed = np.flatnonzero(shared & (conc != 0))
    if len(dosed):
        raise ValueError(
            f"{len(dosed)} shared control row(s) (group {shared_controls!r}) have a non-zero concentration "
            f"(first at positions {dosed[:3].tolist()}): shared controls must be untreated"
        )
    zero = (conc == 0) & ~shared
    if zero.any() and not zero_is_control:
        raise ValueError(
            f"column {concentration!r} has {int(zero.sum())} zero concentration(s): the model works on log "
            "concentration, where 0 is -inf. If these are untreated controls, pass zero_is_control=True "
            "(they then sit exactly at the curve's top); otherwise remove them. Concentrations must be > 0."
        )
    with np.errstate(divide="ignore"):
        return conc, np.log(conc)


def one_curve_arrays(
    data=None,
    response=None,
    *,
    concentration=None,
    log_concentration=None,
    zero_is_control: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One curve's concentrations and responses as float arrays, from a table or from two arrays.

    The one-curve functions (:func:`~recipes_utils.dose_response.four_pl_model`,
    :func:`~recipes_utils.dose_response.least_squares_four_pl`,
    :func:`~recipes_utils.dose_response.default_curve_priors`) read their data through this, in either form:

    - a table, as :func:`prepare_grouped` reads one (without the group column): ``data`` a DataFrame,
      ``response`` (default ``"response"``) and ``concentration`` (default ``"concentration"``) or
      ``log_concentration`` column names; a concentration of 0 needs ``zero_is_control=True``;
    - two arrays: ``data`` the concentrations (or ``concentration=`` by keyword) and ``response`` the responses,
      of the same length; a concentration of 0 is an untreated control.

    Returns the concentrations (0 for a control; from ``log_concentration`` the exponential) and the responses.
    Raises TypeError or ValueError naming what is wrong: a missing or repeated column, a column name given without
    a table, arrays of different lengths.
    """
    if isinstance(data, pd.DataFrame):
        if response is None:
            response = "response"
        concentration, _ = _check_table(
            data, response=response, concentration=concentration, log_concentration=log_concentration
        )
        y = _read_response(data, response)
        values, _ = _read_dose(data, concentration, log_concentration, zero_is_control)
        conc = values if log_concentration is None else np.exp(values)
        return conc, y
    if isinstance(data, Mapping):
        raise TypeError(
            f"data must be a pandas DataFrame (a table) or an array of concentrations, got a {type(data).__name__}"
        )
    if log_concentration is not None:
        raise TypeError("log_concentration= names a column of a table; data is not a DataFrame: pass concentrations")
    if data is None:
        if concentration is None:
            raise TypeError("give a table (data=DataFrame), or the concentrations and the responses")
        data = concentration
    elif concentration is not None:
        raise TypeError(
            "concentration= names a column of a table, but data is not a DataFrame: give the concentrations as data "
            "(or as concentration=), not both"
        )
    if response is None:
        raise TypeError("the responses are missing: with an array of concentrations, pass the responses as response")
    for role, values in (("concentration", data), ("response", response)):
        if isinstance(values, str):
            raise TypeError(
                f"{role} is a column name ({values!r}), but data is not a DataFrame: pass the table as data"
            )
    conc = np.asarray(data, dtype=float)
    y = np.asarray(response, dtype=float)
    if conc.ndim != 1 or conc.shape != y.shape:
        raise ValueError(
            f"concentration and response must be 1-D of the same length, got shapes {conc.shape} and {y.shape}"
        )
    return conc, y


def _check_rows(group_idx, log_conc, response=None):
    """Row arrays as :func:`prepare_grouped` makes them (group codes 0, 1, ...; log concentrations, -inf for a
    control; finite responses), or a ValueError that says what is wrong."""
    group_idx, log_conc = np.asarray(group_idx), np.asarray(log_conc, dtype=float)
    arrays = {"group_idx": group_idx, "log_conc": log_conc}
    if response is not None:
        arrays["response"] = np.asarray(response, dtype=float)
    shapes = {name: a.shape for name, a in arrays.items()}
    if group_idx.ndim != 1 or len(set(shapes.values())) > 1:
        raise ValueError(f"{', '.join(arrays)} must be 1-D of the same length, got {shapes}")
    if not np.issubdtype(group_idx.dtype, np.integer):
        raise ValueError(
            f"group_idx must hold integer group codes (prepare_grouped's group_idx), got {group_idx.dtype}"
        )
    if (group_idx < 0).any():
        raise ValueError(f"group_idx must hold group codes >= 0, got {int(group_idx.min())}")
    if np.isnan(log_conc).any() or np.isposinf(log_conc).any():
        raise ValueError("log_conc has NaN or +inf values (-inf, an untreated control, is allowed)")
    if response is not None and not np.isfinite(arrays["response"]).all():
        raise ValueError(f"response has {int((~np.isfinite(arrays['response'])).sum())} NaN or infinite value(s)")
    return tuple(arrays.values())


def curve_points(group_idx, log_conc):
    """The distinct (group, log concentration) points of the rows, and each row's point.

    Returns ``point_group_idx``, ``point_log_conc`` (the points, sorted by group, then concentration) and
    ``point_of_row`` (int64, ``point_log_conc[point_of_row] == log_conc``), so a curve evaluated at the points and
    indexed with ``point_of_row`` gives every row its value. Replicates and plates repeat a few doses many times:
    ``hierarchical_four_pl(..., curve_at="points")`` evaluates the 4PL at the points, which makes its gradient cheaper
    than one curve value per row, with the same density (unlike ``aggregate``, any likelihood and per-row offsets such
    as plates work).
    A log concentration of ``-inf`` (an untreated control) is a point like any other.
    """
    group_idx, log_conc = _check_rows(group_idx, log_conc)
    frame = pd.DataFrame({"g": group_idx, "x": log_conc})
    by_point = frame.groupby(["g", "x"], sort=True)
    points = by_point.size().index.to_frame(index=False)
    return points["g"].to_numpy(dtype="int64"), points["x"].to_numpy(dtype=float), by_point.ngroup().to_numpy("int64")


def replicate_cells(group_idx, log_conc, response) -> pd.DataFrame:
    """Collapse replicate measurements (same group, same concentration) to sufficient statistics.

    For Normal noise with one ``sigma``, the likelihood of the ``n`` replicates ``y`` in a cell with mean
    ``mu`` factorises exactly as ``Normal(ybar | mu, sigma / sqrt(n))`` times a term in ``sigma`` and the
    within-cell sum of squares ``ss = sum((y - ybar)**2)`` only. Returns one row per cell with columns
    ``group_idx``, ``log_conc``, ``n``, ``mean``, ``ss``. The arrays are :func:`prepare_grouped`'s (``group_idx``,
    ``log_conc``, ``response``): integer group codes, no NaN.
    """
    group_idx, log_conc, response = _check_rows(group_idx, log_conc, response)
    frame = pd.DataFrame({"group_idx": group_idx, "log_conc": log_conc, "y": response})
    by_cell = frame.groupby(["group_idx", "log_conc"], sort=True)["y"]
    # Within-cell sum of squares from deviations (not sum(y^2) - n ybar^2, which cancels badly).
    frame["dev2"] = (frame["y"] - by_cell.transform("mean")) ** 2
    cells = by_cell.agg(n="size", mean="mean")
    cells["ss"] = frame.groupby(["group_idx", "log_conc"], sort=True)["dev2"].sum()
    cells = cells.reset_index()
    return cells
