import numpy as np
import pandas as pd
import pytest

from recipes_utils.covtype import QUANTITATIVE, prepare_covtype
from recipes_utils.data import load_covtype


@pytest.fixture(scope="module")
def df():
    return load_covtype()


@pytest.fixture(scope="module")
def split(df):
    return prepare_covtype(df, seed=0)


def test_split_sizes_and_stratification(split, df):
    n = len(df)
    assert len(split.y_test) == pytest.approx(0.25 * n, abs=1)
    assert len(split.y_train) + len(split.y_test) == n
    assert set(split.train_index).isdisjoint(split.test_index)
    share_train = np.bincount(split.y_train) / len(split.y_train)
    share_test = np.bincount(split.y_test) / len(split.y_test)
    np.testing.assert_allclose(share_train, share_test, atol=1e-3)


def test_standardised_with_training_statistics_only(split, df):
    q = split.n_quantitative
    assert split.feature_names[:q] == QUANTITATIVE
    np.testing.assert_allclose(split.X_train[:, :q].mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(split.X_train[:, :q].std(axis=0), 1, atol=1e-10)
    train_rows = df.loc[split.train_index, QUANTITATIVE]
    np.testing.assert_allclose(split.means, train_rows.mean())
    # Test rows use the training mean/sd, so they are not exactly standardised themselves.
    test_rows = df.loc[split.test_index, QUANTITATIVE]
    np.testing.assert_allclose(split.X_test[:, :q], (test_rows - split.means) / split.sds)


def test_identifiable_indicators(split):
    """No reference level among the features, and no indicator column is a linear combination of the others."""
    for prefix, ref in split.reference_levels.items():
        assert ref.startswith(prefix) and ref not in split.feature_names
    with_intercept = np.hstack([np.ones((len(split.y_train), 1)), split.X_train])
    assert np.linalg.matrix_rank(with_intercept) == with_intercept.shape[1]


def test_reference_level_is_most_common(split, df):
    train = df.loc[split.train_index]
    soil = train.filter(like="Soil_Type").sum()
    assert split.reference_levels["Soil_Type"] == soil.idxmax()


def test_same_seed_same_split(df):
    a, b = prepare_covtype(df, seed=3, n_rows=2000), prepare_covtype(df, seed=3, n_rows=2000)
    np.testing.assert_array_equal(a.train_index, b.train_index)
    c = prepare_covtype(df, seed=4, n_rows=2000)
    assert not np.array_equal(a.train_index, c.train_index)


def test_small_subsample_drops_empty_indicators(df):
    s = prepare_covtype(df, n_rows=500, seed=0)
    assert s.dropped_empty, "a 375-row training set should miss some of the 40 soil types"
    assert not set(s.dropped_empty) & set(s.feature_names)
    assert (s.X_train[:, s.n_quantitative :].sum(axis=0) > 0).all()


def test_subsample_train_is_stratified(split):
    X, y = split.subsample_train(3000, seed=1)
    assert X.shape == (3000, split.X_train.shape[1])
    np.testing.assert_allclose(np.bincount(y) / 3000, np.bincount(split.y_train) / len(split.y_train), atol=2e-3)
    with pytest.raises(ValueError, match="n must lie in"):
        split.subsample_train(0)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"test_size": 0.1}, r"test_size must lie in \[0.2, 1\)"), ({"n_rows": 10}, "n_rows must lie in 50..")],
)
def test_bad_arguments(df, kwargs, match):
    with pytest.raises(ValueError, match=match):
        prepare_covtype(df, **kwargs)


def test_needs_categorical_labels(df):
    bad = df.head(500).assign(Cover_Type=lambda d: d["Cover_Type"].cat.codes)
    with pytest.raises(TypeError, match="Cover_Type must be categorical"):
        prepare_covtype(bad)
    with pytest.raises(ValueError, match=r"lacks columns \['Elevation'\]"):
        prepare_covtype(df.drop(columns="Elevation"))
    assert isinstance(df["Cover_Type"].dtype, pd.CategoricalDtype)
