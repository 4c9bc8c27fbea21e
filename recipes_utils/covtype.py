"""Preparing the forest cover type data for classification (shared by the softmax and BNN recipes)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from recipes_utils.data import COVTYPE_CLASSES, COVTYPE_QUANTITATIVE, load_covtype

__all__ = ["QUANTITATIVE", "CovtypeSplit", "prepare_covtype"]

QUANTITATIVE = list(COVTYPE_QUANTITATIVE)
_GROUPS = {"Wilderness_Area": range(1, 5), "Soil_Type": range(1, 41)}


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
) -> CovtypeSplit:
    """Split, standardise and encode the cover type data.

    - Stratified train/test split with a fixed seed (``test_size`` >= 0.2: the held-out rows are the only
      honest measure of predictive quality).
    - The 10 quantitative features standardised with the **training** rows' mean and sd only.
    - Identifiability: each row has exactly one wilderness area and one soil type, so with an intercept
      the indicators of a group are collinear. We drop one reference level per group, the most common one
      in the training rows, so its effect is absorbed into the intercept and every other coefficient reads
      "relative to the most common area / soil". Indicators never set in the training rows carry no
      information and are dropped too (listed in ``dropped_empty``).

    Parameters
    ----------
    df
        The data as returned by :func:`recipes_utils.data.load_covtype` (loaded if not given).
    n_rows
        Use a stratified subsample of this many rows before splitting (for smoke runs).
    """
    if not 0.2 <= test_size < 1:
        raise ValueError(f"test_size must lie in [0.2, 1), got {test_size}")
    df = load_covtype() if df is None else df
    missing = [c for c in [*QUANTITATIVE, "Cover_Type"] if c not in df.columns]
    if missing:
        raise ValueError(f"df lacks columns {missing}")
    if df[QUANTITATIVE].isna().any().any():
        raise ValueError("df has missing values in the quantitative features")
    labels = df["Cover_Type"]
    if not isinstance(labels.dtype, pd.CategoricalDtype):
        raise TypeError("Cover_Type must be categorical, as load_covtype() returns it")
    y_all = labels.cat.codes.to_numpy()
    if (y_all < 0).any():
        raise ValueError("Cover_Type has missing labels")
    if n_rows is not None:
        if not 50 <= n_rows <= len(df):
            raise ValueError(f"n_rows must lie in 50..{len(df)}, got {n_rows}")
        if n_rows < len(df):
            keep, _ = train_test_split(np.arange(len(df)), train_size=n_rows, stratify=y_all, random_state=seed)
            df, y_all = df.iloc[np.sort(keep)], y_all[np.sort(keep)]
    train_pos, test_pos = train_test_split(np.arange(len(df)), test_size=test_size, stratify=y_all, random_state=seed)
    train_pos, test_pos = np.sort(train_pos), np.sort(test_pos)
    train, test = df.iloc[train_pos], df.iloc[test_pos]

    means = train[QUANTITATIVE].mean()
    sds = train[QUANTITATIVE].std(ddof=0)
    if (sds == 0).any():
        raise ValueError(f"constant quantitative features in the training rows: {list(sds.index[sds == 0])}")

    indicator_cols, reference, empty = [], {}, []
    for prefix, levels in _GROUPS.items():
        cols = [f"{prefix}{i}" for i in levels]
        counts = train[cols].sum()
        reference[prefix] = str(counts.idxmax())
        for c in cols:
            if c == reference[prefix]:
                continue
            if counts[c] == 0:
                empty.append(c)
            else:
                indicator_cols.append(c)

    def encode(part: pd.DataFrame) -> np.ndarray:
        quant = ((part[QUANTITATIVE] - means) / sds).to_numpy(dtype=float)
        return np.hstack([quant, part[indicator_cols].to_numpy(dtype=float)])

    return CovtypeSplit(
        X_train=encode(train),
        X_test=encode(test),
        y_train=y_all[train_pos].astype("int64"),
        y_test=y_all[test_pos].astype("int64"),
        feature_names=[*QUANTITATIVE, *indicator_cols],
        class_names=list(COVTYPE_CLASSES),
        means=means,
        sds=sds,
        reference_levels=reference,
        dropped_empty=empty,
        train_index=train.index.to_numpy(),
        test_index=test.index.to_numpy(),
    )
