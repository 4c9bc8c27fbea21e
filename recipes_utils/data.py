"""The shipped data sets, and simulated dose-response data with known truth.

Nothing here downloads: every file lives in the repository's ``data/`` folder (see
``data/README.md`` for provenance, licences and checksums). Set ``RECIPES_DATA_DIR`` to read
them from somewhere else.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from recipes_utils.models import four_pl

__all__ = [
    "COVTYPE_CLASSES",
    "COVTYPE_QUANTITATIVE",
    "COVTYPE_SHA256",
    "DoseResponseSimulation",
    "data_dir",
    "list_drc",
    "load_covtype",
    "load_drc",
    "simulate_dose_response",
]

#: sha256 of ``data/covtype.csv.gz`` as shipped (see data/covtype.SOURCE.txt).
COVTYPE_SHA256 = "8d0271f2f127218b3e957164f27ec2df833a1502c8eac62a4cdb22829129dcd9"

#: Cover_Type codes 1..7, in order (UCI Covertype documentation).
COVTYPE_CLASSES = (
    "Spruce/Fir",
    "Lodgepole Pine",
    "Ponderosa Pine",
    "Cottonwood/Willow",
    "Aspen",
    "Douglas-fir",
    "Krummholz",
)

#: The ten quantitative cartographic features, in file order.
COVTYPE_QUANTITATIVE = (
    "Elevation",
    "Aspect",
    "Slope",
    "Horizontal_Distance_To_Hydrology",
    "Vertical_Distance_To_Hydrology",
    "Horizontal_Distance_To_Roadways",
    "Hillshade_9am",
    "Hillshade_Noon",
    "Hillshade_3pm",
    "Horizontal_Distance_To_Fire_Points",
)
COVTYPE_COLUMNS = (
    *COVTYPE_QUANTITATIVE,
    *(f"Wilderness_Area{i}" for i in range(1, 5)),
    *(f"Soil_Type{i}" for i in range(1, 41)),
    "Cover_Type",
)


def data_dir() -> Path:
    """The folder holding the shipped data: ``$RECIPES_DATA_DIR`` if set, else the repo's ``data/``."""
    override = os.environ.get("RECIPES_DATA_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_covtype(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Load the forest cover type data (161,322 rows of the UCI Covertype data).

    Parameters
    ----------
    path
        The ``covtype.csv.gz`` file; defaults to the one in :func:`data_dir`.

    Returns
    -------
    pandas.DataFrame
        The 54 feature columns as integers and ``Cover_Type`` as an ordered categorical whose
        categories are the seven tree-species names (:data:`COVTYPE_CLASSES`).

    Raises
    ------
    FileNotFoundError
        If the file is missing.
    ValueError
        If the file's sha256 differs from the shipped one, or its columns are not the expected ones.
    """
    path = Path(path) if path is not None else data_dir() / "covtype.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(
            f"Forest cover type data not found at {path}. It ships with the repository in "
            "data/covtype.csv.gz: restore it with `git checkout -- data/covtype.csv.gz`, or set "
            "RECIPES_DATA_DIR to the folder that holds it."
        )
    actual = _sha256(path)
    if actual != COVTYPE_SHA256:
        raise ValueError(
            f"{path} has sha256 {actual}, expected {COVTYPE_SHA256}: the file is damaged or not the "
            "shipped one. Restore it with `git checkout -- data/covtype.csv.gz` (see data/README.md)."
        )
    df = pd.read_csv(path)
    if tuple(df.columns) != COVTYPE_COLUMNS:
        raise ValueError(f"{path}: unexpected columns {list(df.columns)}")
    codes = df["Cover_Type"].to_numpy()
    if codes.min() < 1 or codes.max() > len(COVTYPE_CLASSES):
        raise ValueError(f"{path}: Cover_Type codes must lie in 1..7, got {codes.min()}..{codes.max()}")
    df["Cover_Type"] = pd.Categorical.from_codes(codes - 1, categories=list(COVTYPE_CLASSES), ordered=True)
    return df


def list_drc() -> list[str]:
    """Names of the dose-response data sets shipped in ``data/drc`` (from the R package drc)."""
    return sorted(p.stem for p in (data_dir() / "drc").glob("*.csv"))


def load_drc(name: str) -> pd.DataFrame:
    """Load one of the real dose-response data sets from ``data/drc``.

    Parameters
    ----------
    name
        The data set's name as in the R package drc, e.g. ``"ryegrass"``, ``"S.alba"``.
        :func:`list_drc` lists them; ``data/drc.SOURCE.txt`` describes each.

    Raises
    ------
    ValueError
        If no data set has that name; the message lists the available ones.
    """
    available = list_drc()
    if name not in available:
        raise ValueError(f"Unknown drc data set {name!r}. Available: {', '.join(available)}")
    return pd.read_csv(data_dir() / "drc" / f"{name}.csv")


class DoseResponseSimulation(NamedTuple):
    """What :func:`simulate_dose_response` returns."""

    data: pd.DataFrame
    """Tidy observations: ``group``, ``concentration``, ``log_concentration``, ``response``."""
    truth: pd.DataFrame
    """The true ``bottom``, ``top``, ``log_ec50`` and ``hill`` of each group (index: group)."""
    population: dict
    """The population-level settings the groups were drawn from, and the noise sd."""
    plate_effects: pd.Series | None = None
    """With ``n_plates``: the true additive offset of each plate (index: plate); otherwise None."""


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_positive(name: str, value) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def simulate_dose_response(
    n_groups: int,
    n_obs: int,
    seed: int | None = 0,
    *,
    n_doses: int = 8,
    log_conc_range: tuple[float, float] = (-4.0, 4.0),
    top_mean: float = 100.0,
    top_sd: float = 5.0,
    bottom_mean: float = 10.0,
    bottom_sd: float = 4.0,
    log_ec50_mean: float = 0.0,
    log_ec50_sd: float = 1.0,
    log_hill_mean: float = np.log(1.5),
    log_hill_sd: float = 0.25,
    noise_sd: float = 5.0,
    n_plates: int | None = None,
    plate_sd: float = 5.0,
    outlier_fraction: float = 0.0,
    outlier_scale: float = 10.0,
) -> DoseResponseSimulation:
    """Simulate grouped dose-response data from a hierarchical 4-parameter logistic model.

    Each group ``g`` has its own curve

    ``response = bottom_g + (top_g - bottom_g) / (1 + exp(hill_g * (log_conc - log_ec50_g)))``

    with ``top_g ~ Normal(top_mean, top_sd)``, ``bottom_g ~ Normal(bottom_mean, bottom_sd)``,
    ``log_ec50_g ~ Normal(log_ec50_mean, log_ec50_sd)``, ``log(hill_g) ~ Normal(log_hill_mean,
    log_hill_sd)``, and Normal noise with sd ``noise_sd``. Think of the response as percent of the
    untreated control and the concentration in µM, so the curve falls from about 100 to about 10.

    The ``n_obs`` observations are split as evenly as possible over the groups; within a group they
    cycle through ``n_doses`` concentrations equally spaced in log concentration over
    ``log_conc_range`` (replicates when a group has more points than doses).

    Two things real screens have can be added (each off by default, and then the draws are exactly those of the plain
    simulation):

    - ``n_plates``: a group's measurements come in replicate series (one pass over the dose grid each), and every
      series sits on a plate drawn at random from ``n_plates``; each plate adds its own offset, drawn from
      ``Normal(0, plate_sd)``, to every measurement on it. Each plate then holds series of many compounds and each
      compound's series lie on different plates, so plate and compound effects are both identified. The data get a
      ``plate`` column and the offsets are returned as ``plate_effects``.
    - ``outlier_fraction``: that share of measurements (chosen at random) gets an extra error from
      ``Normal(0, outlier_scale * noise_sd)``; the data get a boolean ``outlier`` column.

    Parameters
    ----------
    n_groups
        Number of groups (curves), >= 1.
    n_obs
        Total number of observations, >= n_groups.
    seed
        Seed for :func:`numpy.random.default_rng`.
    n_plates, plate_sd
        Number of plates (>= 1) and the sd of their offsets; ``None`` for no plates.
    outlier_fraction, outlier_scale
        Share of outlying measurements, in [0, 0.5), and the sd of their extra error in units of ``noise_sd``.

    Returns
    -------
    DoseResponseSimulation
        ``(data, truth, population)``; see :class:`DoseResponseSimulation`.

    Raises
    ------
    ValueError
        For sizes out of range (the message names the argument and the value) or a non-positive
        spread or noise.
    """
    n_groups = _check_int("n_groups", n_groups, 1)
    n_obs = _check_int("n_obs", n_obs, 1)
    if n_obs < n_groups:
        raise ValueError(f"n_obs must be >= n_groups ({n_groups}) so every group has data, got {n_obs}")
    n_doses = _check_int("n_doses", n_doses, 2)
    lo, hi = (float(v) for v in log_conc_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"log_conc_range must be (low, high) with low < high, got {log_conc_range}")
    if n_plates is not None:
        n_plates = _check_int("n_plates", n_plates, 1)
        _check_positive("plate_sd", plate_sd)
    if not 0 <= float(outlier_fraction) < 0.5:
        raise ValueError(f"outlier_fraction must lie in [0, 0.5), got {outlier_fraction}")
    _check_positive("outlier_scale", outlier_scale)
    for name, value in [
        ("top_sd", top_sd),
        ("bottom_sd", bottom_sd),
        ("log_ec50_sd", log_ec50_sd),
        ("log_hill_sd", log_hill_sd),
        ("noise_sd", noise_sd),
    ]:
        _check_positive(name, value)

    rng = np.random.default_rng(seed)
    truth = pd.DataFrame(
        {
            "bottom": rng.normal(bottom_mean, bottom_sd, n_groups),
            "top": rng.normal(top_mean, top_sd, n_groups),
            "log_ec50": rng.normal(log_ec50_mean, log_ec50_sd, n_groups),
            "hill": np.exp(rng.normal(log_hill_mean, log_hill_sd, n_groups)),
        },
        index=pd.RangeIndex(n_groups, name="group"),
    )

    # Even split: the first (n_obs % n_groups) groups get one extra observation.
    sizes = np.full(n_groups, n_obs // n_groups)
    sizes[: n_obs % n_groups] += 1
    group = np.repeat(np.arange(n_groups), sizes)
    # Position of each observation within its group, cycling over the dose grid.
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    within = np.arange(n_obs) - starts
    dose_grid = np.linspace(lo, hi, n_doses)
    log_conc = dose_grid[within % n_doses]

    t = truth.to_numpy()
    mean = four_pl(log_conc, t[group, 0], t[group, 1], t[group, 2], t[group, 3])
    response = mean + rng.normal(0.0, noise_sd, n_obs)

    data = pd.DataFrame(
        {
            "group": group,
            "concentration": np.exp(log_conc),
            "log_concentration": log_conc,
            "response": response,
        }
    )
    plate_effects = None
    if n_plates is not None:  # drawn after everything else: without plates the stream is the plain simulation's
        series = np.asarray(group) * (int(sizes.max()) // n_doses + 1) + within // n_doses  # a (group, pass) id
        series_ids, series_idx = np.unique(series, return_inverse=True)
        plate_of_series = rng.integers(n_plates, size=len(series_ids))
        plate = plate_of_series[series_idx]
        plate_effects = pd.Series(rng.normal(0.0, plate_sd, n_plates), index=pd.RangeIndex(n_plates, name="plate"))
        response = response + plate_effects.to_numpy()[plate]
        data["plate"] = plate
        data["response"] = response
    if outlier_fraction > 0:
        outlier = rng.random(n_obs) < outlier_fraction
        response = response + np.where(outlier, rng.normal(0.0, outlier_scale * noise_sd, n_obs), 0.0)
        data["outlier"] = outlier
        data["response"] = response
    population = {
        "top_mean": top_mean,
        "top_sd": top_sd,
        "bottom_mean": bottom_mean,
        "bottom_sd": bottom_sd,
        "log_ec50_mean": log_ec50_mean,
        "log_ec50_sd": log_ec50_sd,
        "log_hill_mean": log_hill_mean,
        "log_hill_sd": log_hill_sd,
        "noise_sd": noise_sd,
        "plate_sd": plate_sd if n_plates is not None else None,
        "outlier_fraction": float(outlier_fraction),
        "outlier_scale": outlier_scale,
    }
    return DoseResponseSimulation(data, truth, population, plate_effects)
