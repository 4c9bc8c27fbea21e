import numpy as np
import pandas as pd
import pytest

from recipes_utils.covtype import QUANTITATIVE, prepare_covtype
from recipes_utils.data import COVTYPE_CLASSES, load_covtype


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
    # Test rows with a soil type the training rows lack are left out, counted, never encoded as the reference.
    assert len(s.y_train) + len(s.y_test) + s.test_dropped_unseen == 500
    test_soils = df.loc[s.test_index, [f"Soil_Type{i}" for i in range(1, 41)]]
    assert not test_soils[[c for c in s.dropped_empty if c.startswith("Soil")]].any().any()


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


def test_labels_in_another_category_order_are_refused_and_recoding_fixes_them(df):
    # A table whose species names became a categorical the usual way (alphabetical categories): its codes would index
    # the wrong names in class_names
    own = df.groupby("Cover_Type", observed=True).head(60).copy()
    own["Cover_Type"] = own["Cover_Type"].astype(str).astype("category")
    with pytest.raises(ValueError, match="Cover_Type's categories are \\['Aspen', 'Cottonwood/Willow'"):
        prepare_covtype(own)
    own["Cover_Type"] = pd.Categorical(own["Cover_Type"], categories=COVTYPE_CLASSES, ordered=True)  # as the error says
    split = prepare_covtype(own)
    names = np.asarray(split.class_names)[split.y_train]
    assert (names == own.loc[split.train_index, "Cover_Type"].astype(str).to_numpy()).all()
    # three species only, recoded the same way: the unused categories stay, and the names still match
    three = own[own["Cover_Type"].isin(["Aspen", "Krummholz", "Lodgepole Pine"])]
    split = prepare_covtype(three, test_size=0.25)
    assert set(np.asarray(split.class_names)[split.y_train]) == {"Aspen", "Krummholz", "Lodgepole Pine"}


# --- the fitted encoder for new rows ----------------------------------------------------------------


def test_encode_reproduces_the_training_and_test_matrices(split, df):
    np.testing.assert_array_equal(split.encode(df.loc[split.test_index]), split.X_test)
    np.testing.assert_array_equal(split.encode(df.loc[split.train_index[:100]]), split.X_train[:100])


def test_encode_scores_rows_outside_the_split(df):
    # A split of 4,000 rows: the other 157,000 cells are rows it has never seen.
    small = prepare_covtype(df, seed=1, n_rows=4000)
    outside = df.drop(index=np.concatenate([small.train_index, small.test_index])).iloc[:500]
    outside = outside[~outside[small.dropped_empty].any(axis=1)] if small.dropped_empty else outside
    X = small.encode(outside)
    assert X.shape == (len(outside), len(small.feature_names))
    q = small.n_quantitative
    np.testing.assert_allclose(X[:, :q], (outside[QUANTITATIVE] - small.means) / small.sds)


def test_encode_rejects_bad_rows_with_clear_messages(split, df):
    rows = df.iloc[:5]
    with pytest.raises(ValueError, match=r"lack 1 column\(s\) the encoder needs: \['Slope'\]"):
        split.encode(rows.drop(columns="Slope"))
    with pytest.raises(ValueError, match=r"does not know: \['site_id'\]"):
        split.encode(rows.assign(site_id=1))
    two = rows.copy()
    two["Soil_Type1"] = 1
    with pytest.raises(ValueError, match="several Soil_Type indicator"):
        split.encode(two)
    with pytest.raises(TypeError, match="DataFrame"):
        split.encode(rows.to_numpy())


def test_a_left_out_area_is_a_spatial_split_and_unseen_levels_are_refused(df):
    held = prepare_covtype(df, hold_out_area=2)
    area = df[[f"Wilderness_Area{i}" for i in range(1, 5)]].to_numpy().argmax(axis=1) + 1
    assert (area[df.index.get_indexer(held.test_index)] == 2).all()
    assert (area[df.index.get_indexer(held.train_index)] != 2).all()
    assert not any(f.startswith("Wilderness_Area") for f in held.feature_names)
    in_area = int((area == 2).sum())
    assert len(held.y_test) + held.test_dropped_unseen == in_area and held.test_dropped_unseen > 0
    # A cell with a soil type only the held-out area has cannot be scored by the models trained elsewhere.
    soil = df[[f"Soil_Type{i}" for i in range(1, 41)]].to_numpy().argmax(axis=1) + 1
    unseen = df[(area == 2) & ~np.isin(soil, soil[area != 2])]
    with pytest.raises(ValueError, match="Soil Type the training rows never had: \\['Soil_Type25'\\]"):
        held.encode(unseen.iloc[:3])
    with pytest.raises(ValueError, match="hold_out_area must be 1, 2, 3 or 4"):
        prepare_covtype(df, hold_out_area=5)
