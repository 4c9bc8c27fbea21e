"""Preparing the forest cover type data for classification (shared by the softmax and BNN recipes).

:func:`prepare_covtype` splits the cells (at random, or leaving one wilderness area out), and fits a scikit-learn
``ColumnTransformer`` on the training rows only: the quantitative features standardised, wilderness area and soil
type one-hot encoded with one reference level dropped. :meth:`CovtypeSplit.encode` applies that same fitted encoder
to new rows, so scoring a cell of your own needs no re-implementation of the encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from recipes_utils.data import COVTYPE_CLASSES, COVTYPE_QUANTITATIVE, load_covtype

__all__ = ["FEATURE_COLUMNS", "QUANTITATIVE", "CovtypeSplit", "indicators_to_levels", "prepare_covtype"]

QUANTITATIVE = list(COVTYPE_QUANTITATIVE)
_GROUPS = {"Wilderness_Area": range(1, 5), "Soil_Type": range(1, 41)}
#: The columns a cell must have to be encoded: the ten quantitative features and the 44 indicators.
FEATURE_COLUMNS = [*QUANTITATIVE, *(f"{prefix}{i}" for prefix, levels in _GROUPS.items() for i in levels)]


def indicators_to_levels(df: pd.DataFrame) -> pd.DataFrame:
    """The quantitative features plus two categorical columns, ``Wilderness_Area`` and ``Soil_Type``, holding the
    name of the one indicator set in each row (``"Soil_Type29"``).

    Raises
    ------
    ValueError
        Missing or unknown columns, non-numeric or missing values, or a row with no indicator or several indicators
        of a group set; each message names the columns or the rows.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"rows must be a pandas DataFrame with the cover type columns, got {type(df).__name__}")
    missing = [c for c in FEATURE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"rows lack {len(missing)} column(s) the encoder needs: {missing[:6]}{' ...' * (len(missing) > 6)}"
        )
    unknown = [c for c in df.columns if c not in FEATURE_COLUMNS and c != "Cover_Type"]
    if unknown:
        raise ValueError(
            f"rows have column(s) the encoder does not know: {unknown[:6]}; it takes exactly the 54 cover type "
            "feature columns (and, optionally, Cover_Type). Select those columns first."
        )
    values = df[FEATURE_COLUMNS].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any():
        bad = values.columns[values.isna().any()].tolist()
        raise ValueError(f"missing or non-numeric values in column(s) {bad[:6]}")
    out = values[QUANTITATIVE].copy()
    for prefix, levels in _GROUPS.items():
        cols = [f"{prefix}{i}" for i in levels]
        block = values[cols].to_numpy()
        if not np.isin(block, (0, 1)).all():
            raise ValueError(f"the {prefix} indicators must be 0 or 1")
        n_set = block.sum(axis=1)
        wrong = np.flatnonzero(n_set != 1)
        if len(wrong):
            raise ValueError(
                f"{len(wrong)} row(s) have {'no' if n_set[wrong[0]] == 0 else 'several'} {prefix} indicator(s) set "
                f"(first at positions {wrong[:3].tolist()}); each cell lies in exactly one {prefix.replace('_', ' ')}"
            )
        out[prefix] = np.asarray(cols)[block.argmax(axis=1)]
    return out


@dataclass
class CovtypeSplit:
    """A stratified train/test split, standardised with training statistics, ready for PyMC.

    ``X_*`` hold the standardised quantitative features first, then the kept indicator columns (0/1).
    ``y_*`` are integer class codes 0..6 (index into ``class_names``).
    """

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    means: pd.Series  # training mean of each quantitative feature (data units)
    sds: pd.Series  # training sd of each quantitative feature (data units)
    reference_levels: dict[str, str]  # indicator dropped per group (absorbed into the intercept)
    dropped_empty: list[str]  # indicators never set in the training rows, dropped
    train_index: np.ndarray  # row labels of the source DataFrame
    test_index: np.ndarray
    encoder: ColumnTransformer | None = None  # fitted on the training rows; see encode()
    held_out_area: str | None = None  # the wilderness area the test rows come from, when one was left out
    test_dropped_unseen: int = 0  # rows left out of the test set: their area or soil type never occurs in training

    def encode(self, rows: pd.DataFrame) -> np.ndarray:
        """Encode new cells exactly as the training rows were: the fitted ``ColumnTransformer`` (training means and
        sds, kept indicator columns, reference levels).

        ``rows`` has the 54 feature columns of :func:`recipes_utils.data.load_covtype` (``Cover_Type`` may be
        there too and is ignored).

        Raises
        ------
        ValueError
            Missing or unknown columns, bad indicator values, or a wilderness area or soil type the training rows
            never had (the model has no coefficient for it); the message names the level and the rows.
        """
        levels = indicators_to_levels(rows)
        one_hot = self.encoder.named_transformers_["levels"]
        for prefix, categories in zip(one_hot.feature_names_in_, one_hot.categories_):
            known = set(categories)
            unseen = ~levels[prefix].isin(known).to_numpy()
            if unseen.any():
                names = sorted(set(levels[prefix][unseen]))
                raise ValueError(
                    f"{int(unseen.sum())} row(s) have a {prefix.replace('_', ' ')} the training rows never had: "
                    f"{names[:5]} (first at positions {np.flatnonzero(unseen)[:3].tolist()}); the model has no "
                    "coefficient for it, so it cannot score them"
                )
        return np.asarray(self.encoder.transform(levels), dtype=float)

    @property
    def n_quantitative(self) -> int:
        return len(self.means)

    def subsample_train(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A stratified subsample of ``n`` training rows: ``(X, y)``."""
        if not 1 <= n <= len(self.y_train):
            raise ValueError(f"n must lie in 1..{len(self.y_train)}, got {n}")
        if n == len(self.y_train):
            return self.X_train, self.y_train
        idx, _ = train_test_split(np.arange(len(self.y_train)), train_size=n, stratify=self.y_train, random_state=seed)
        idx = np.sort(idx)
        return self.X_train[idx], self.y_train[idx]


def prepare_covtype(
    df: pd.DataFrame | None = None,
    *,
    test_size: float = 0.25,
    seed: int = 0,
    n_rows: int | None = None,
    hold_out_area: int | None = None,
) -> CovtypeSplit:
    """Split, standardise and encode the cover type data.

    - The split: by default stratified at random with a fixed seed (``test_size`` >= 0.2: the held-out rows are the
      only honest measure of predictive quality). Neighbouring 30 m cells are alike, so a random split measures
      mostly interpolation between them; ``hold_out_area=k`` (1-4) instead tests on every cell of wilderness area
      ``k`` and trains on the other three (a spatially honest split). The area indicators are then no feature (the
      held-out one would be unknown).
    - Test cells whose soil type (or area) never occurs in the training rows are left out of the test set and
      counted in ``test_dropped_unseen``: a model trained without that level has no coefficient for it. (With all
      rows and a random split there are none; a small subsample or a held-out area has some.)
    - The 10 quantitative features standardised with the **training** rows' mean and sd only.
    - Identifiability: each row has exactly one wilderness area and one soil type, so with an intercept
      the indicators of a group are collinear. We drop one reference level per group, the most common one
      in the training rows, so its effect is absorbed into the intercept and every other coefficient reads
      "relative to the most common area / soil". Indicators never set in the training rows carry no
      information and are dropped too (listed in ``dropped_empty``).

    The encoding is a scikit-learn ``ColumnTransformer`` fitted on the training rows (``StandardScaler`` and
    ``OneHotEncoder(drop=reference levels, handle_unknown="error")``), kept as ``encoder`` and applied to new rows
    by :meth:`CovtypeSplit.encode`.

    Parameters
    ----------
    df
        The data as returned by :func:`recipes_utils.data.load_covtype` (loaded if not given). Your own table needs
        its columns, with ``Cover_Type`` a categorical whose categories are :data:`~recipes_utils.data.COVTYPE_CLASSES`
        in that order (the class codes index ``class_names``); other categories are refused.
    n_rows
        Use a stratified subsample of this many rows before splitting (for smoke runs).
    hold_out_area
        Leave wilderness area 1, 2, 3 or 4 out for testing (``test_size`` is then not used).
    """
    if not 0.2 <= test_size < 1:
        raise ValueError(f"test_size must lie in [0.2, 1), got {test_size}")
    if hold_out_area is not None and hold_out_area not in (1, 2, 3, 4):
        raise ValueError(f"hold_out_area must be 1, 2, 3 or 4 (a wilderness area), got {hold_out_area!r}")
    df = load_covtype() if df is None else df
    missing = [c for c in [*QUANTITATIVE, "Cover_Type"] if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks columns {missing}")
    if df[QUANTITATIVE].isna().any().any():
        raise ValueError("df has missing values in the quantitative features")
    labels = df["Cover_Type"]
    if not isinstance(labels.dtype, pd.CategoricalDtype):
        raise TypeError("Cover_Type must be categorical, as load_covtype() returns it")
    if list(labels.cat.categories) != list(COVTYPE_CLASSES):
        # The codes index class_names, which are COVTYPE_CLASSES: other categories (alphabetical ones, from
        # astype("category"), or a subset) would put the wrong species name on every class
        raise ValueError(
            f"Cover_Type's categories are {list(labels.cat.categories)}; prepare_covtype needs the seven species of "
            "COVTYPE_CLASSES, in that order, as load_covtype() returns them: recode with df['Cover_Type'] = "
            "pd.Categorical(df['Cover_Type'], categories=COVTYPE_CLASSES, ordered=True) (unused species may stay)"
        )
    y_all = labels.cat.codes.to_numpy()
    if (y_all < 0).any():
        raise ValueError("Cover_Type has missing labels")
    if n_rows is not None:
        if not 50 <= n_rows <= len(df):
            raise ValueError(f"n_rows must lie in 50..{len(df)}, got {n_rows}")
        if n_rows < len(df):
            keep, _ = train_test_split(np.arange(len(df)), train_size=n_rows, stratify=y_all, random_state=seed)
            df, y_all = df.iloc[np.sort(keep)], y_all[np.sort(keep)]
    levels = indicators_to_levels(df[FEATURE_COLUMNS])
    if hold_out_area is None:
        train_pos, test_pos = train_test_split(
            np.arange(len(df)), test_size=test_size, stratify=y_all, random_state=seed
        )
        groups = dict(_GROUPS)
    else:
        in_area = (levels["Wilderness_Area"] == f"Wilderness_Area{hold_out_area}").to_numpy()
        train_pos, test_pos = np.flatnonzero(~in_area), np.flatnonzero(in_area)
        groups = {"Soil_Type": _GROUPS["Soil_Type"]}
    seen = np.ones(len(test_pos), dtype=bool)
    for prefix in groups:
        seen &= levels[prefix].iloc[test_pos].isin(levels[prefix].iloc[train_pos].unique()).to_numpy()
    dropped_unseen = int((~seen).sum())
    train_pos, test_pos = np.sort(train_pos), np.sort(test_pos[seen])
    train_levels = levels.iloc[train_pos]

    categories, reference, empty, indicator_cols = [], {}, [], []
    for prefix, all_levels in groups.items():
        counts = train_levels[prefix].value_counts()
        reference[prefix] = str(counts.idxmax())
        seen = [f"{prefix}{i}" for i in all_levels if counts.get(f"{prefix}{i}", 0) > 0]
        empty += [f"{prefix}{i}" for i in all_levels if counts.get(f"{prefix}{i}", 0) == 0]
        categories.append(seen)
        indicator_cols += [c for c in seen if c != reference[prefix]]
    one_hot = OneHotEncoder(
        categories=categories, drop=[reference[p] for p in groups], handle_unknown="error", sparse_output=False
    )
    encoder = ColumnTransformer(
        [("quantitative", StandardScaler(), QUANTITATIVE), ("levels", one_hot, list(groups))], remainder="drop"
    )
    encoder.fit(train_levels)
    if (encoder.named_transformers_["quantitative"].scale_ == 0).any():
        sds = pd.Series(encoder.named_transformers_["quantitative"].scale_, index=QUANTITATIVE)
        raise ValueError(f"constant quantitative features in the training rows: {list(sds.index[sds == 0])}")
    scaler = encoder.named_transformers_["quantitative"]
    return CovtypeSplit(
        X_train=np.asarray(encoder.transform(train_levels), dtype=float),
        X_test=np.asarray(encoder.transform(levels.iloc[test_pos]), dtype=float),
        y_train=y_all[train_pos].astype("int64"),
        y_test=y_all[test_pos].astype("int64"),
        feature_names=[*QUANTITATIVE, *indicator_cols],
        class_names=list(COVTYPE_CLASSES),
        means=pd.Series(scaler.mean_, index=QUANTITATIVE),
        sds=pd.Series(scaler.scale_, index=QUANTITATIVE),
        reference_levels=reference,
        dropped_empty=empty,
        train_index=df.index.to_numpy()[train_pos],
        test_index=df.index.to_numpy()[test_pos],
        encoder=encoder,
        held_out_area=None if hold_out_area is None else f"Wilderness_Area{hold_out_area}",
        test_dropped_unseen=dropped_unseen,
    )
