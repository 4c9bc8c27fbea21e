import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from recipes_utils import data
from recipes_utils.models import four_pl


@pytest.fixture(scope="module")
def covtype():
    return data.load_covtype()


def test_covtype_shape_and_classes(covtype):
    assert covtype.shape == (161_322, 55)
    ct = covtype["Cover_Type"]
    assert isinstance(ct.dtype, pd.CategoricalDtype) and ct.cat.ordered
    assert list(ct.cat.categories) == list(data.COVTYPE_CLASSES)
    # Class counts from data/covtype.SOURCE.txt (codes 1..7 in order).
    assert ct.value_counts(sort=False).tolist() == [58834, 78551, 9980, 748, 2636, 4882, 5691]
    assert covtype["Elevation"].between(1859, 3858).all()
    # One wilderness area and one soil type per row.
    assert (covtype.filter(like="Wilderness_Area").sum(axis=1) == 1).all()
    assert (covtype.filter(like="Soil_Type").sum(axis=1) == 1).all()


def test_covtype_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="covtype.csv.gz.*git checkout"):
        data.load_covtype(tmp_path / "covtype.csv.gz")


def test_covtype_checksum_mismatch(tmp_path):
    bad = tmp_path / "covtype.csv.gz"
    with gzip.open(data.data_dir() / "covtype.csv.gz", "rt") as src, gzip.open(bad, "wt") as dst:
        for i, line in enumerate(src):
            if i > 10:
                break
            dst.write(line)
    with pytest.raises(ValueError, match=r"covtype.csv.gz has sha256 [0-9a-f]{64}, expected 8d0271f2"):
        data.load_covtype(bad)


def test_data_dir_override(tmp_path, monkeypatch):
    (tmp_path / "drc").mkdir()
    shutil.copy(data.data_dir() / "drc" / "ryegrass.csv", tmp_path / "drc" / "only.csv")
    monkeypatch.setenv("RECIPES_DATA_DIR", str(tmp_path))
    assert data.list_drc() == ["only"]


def test_load_drc():
    rye = data.load_drc("ryegrass")
    assert rye.shape == (24, 2) and list(rye.columns) == ["rootl", "conc"]
    assert rye["rootl"].iloc[0] == 7.58
    alba = data.load_drc("S.alba")
    assert alba.groupby("Herbicide").size().to_dict() == {"Bentazone": 36, "Glyphosate": 32}
    assert len(data.list_drc()) == 33


def test_load_drc_unknown_name_lists_available():
    with pytest.raises(ValueError, match=r"Unknown drc data set 'ryegras'\. Available: .*ryegrass"):
        data.load_drc("ryegras")


def test_simulation_shape_and_truth():
    sim = data.simulate_dose_response(n_groups=7, n_obs=100, seed=3)
    df, truth = sim.data, sim.truth
    assert list(df.columns) == ["group", "concentration", "log_concentration", "response"]
    assert len(df) == 100 and df["group"].nunique() == 7
    sizes = df.groupby("group").size()
    assert sizes.max() - sizes.min() <= 1
    assert np.allclose(np.log(df["concentration"]), df["log_concentration"])
    assert list(truth.columns) == ["bottom", "top", "log_ec50", "hill"] and len(truth) == 7
    assert (truth["hill"] > 0).all()
    assert set(sim.population) >= {"noise_sd", "log_ec50_mean", "log_ec50_sd"}


def test_simulation_is_the_model_plus_noise():
    """Residuals from the true curves have the stated noise sd, and no bias."""
    sim = data.simulate_dose_response(n_groups=50, n_obs=20_000, seed=1, noise_sd=2.0)
    t = sim.truth.loc[sim.data["group"]].to_numpy()
    mean = four_pl(sim.data["log_concentration"].to_numpy(), t[:, 0], t[:, 1], t[:, 2], t[:, 3])
    resid = sim.data["response"].to_numpy() - mean
    assert abs(resid.mean()) < 4 * 2.0 / np.sqrt(len(resid))
    assert resid.std() == pytest.approx(2.0, rel=0.03)


def test_simulation_population_distribution():
    sim = data.simulate_dose_response(n_groups=3000, n_obs=3000, seed=2, log_ec50_mean=1.0, log_ec50_sd=0.5)
    le = sim.truth["log_ec50"]
    assert abs(le.mean() - 1.0) < 4 * 0.5 / np.sqrt(3000)
    assert le.std() == pytest.approx(0.5, rel=0.06)


def test_simulation_is_reproducible_and_seeded():
    a = data.simulate_dose_response(5, 50, seed=11)
    b = data.simulate_dose_response(5, 50, seed=11)
    c = data.simulate_dose_response(5, 50, seed=12)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not np.allclose(a.data["response"], c.data["response"])


def test_simulation_full_scale_size():
    sim = data.simulate_dose_response(n_groups=3000, n_obs=400_000, seed=0)
    assert len(sim.data) == 400_000 and sim.data["group"].nunique() == 3000


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_groups": 0, "n_obs": 10}, "n_groups must be >= 1, got 0"),
        ({"n_groups": 10, "n_obs": 5}, r"n_obs must be >= n_groups \(10\).*got 5"),
        ({"n_groups": 2, "n_obs": 0}, "n_obs must be >= 1, got 0"),
        ({"n_groups": 2, "n_obs": 10, "n_doses": 1}, "n_doses must be >= 2, got 1"),
        ({"n_groups": 2, "n_obs": 10, "noise_sd": 0}, "noise_sd must be a positive finite number, got 0"),
        ({"n_groups": 2, "n_obs": 10, "log_ec50_sd": -1}, "log_ec50_sd must be a positive"),
        ({"n_groups": 2, "n_obs": 10, "log_conc_range": (3, 1)}, "log_conc_range must be"),
    ],
)
def test_simulation_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.simulate_dose_response(seed=0, **kwargs)


@pytest.mark.parametrize("n_groups", [2.5, "3", True])
def test_simulation_non_integer_sizes(n_groups):
    with pytest.raises(TypeError, match="n_groups must be an integer"):
        data.simulate_dose_response(n_groups, 10, seed=0)


def test_data_readme_checksums_match_the_files():
    import hashlib
    import re

    readme = (data.data_dir() / "README.md").read_text()
    listed = dict(re.findall(r"\| `(drc/[^`]+)` \|.*\| `([0-9a-f]{64})` \|", readme))
    assert len(listed) == len(data.list_drc()) == 33
    for rel, sha in listed.items():
        assert hashlib.sha256((data.data_dir() / rel).read_bytes()).hexdigest() == sha, rel
    assert data.COVTYPE_SHA256 in readme


def test_simulation_with_plates_and_outliers():
    simulate_dose_response = data.simulate_dose_response
    plain = simulate_dose_response(40, 40 * 32, seed=3)
    sim = simulate_dose_response(40, 40 * 32, seed=3, n_plates=12, plate_sd=6.0, outlier_fraction=0.05)
    # Plates and outliers are drawn after everything else: the curves are the plain simulation's.
    pd.testing.assert_frame_equal(sim.truth, plain.truth)
    assert {"plate", "outlier"} <= set(sim.data.columns) and len(sim.plate_effects) == 12
    residual = sim.data["response"] - plain.data["response"]
    clean = ~sim.data["outlier"]
    np.testing.assert_allclose(residual[clean], sim.plate_effects.to_numpy()[sim.data["plate"][clean]])
    assert 0.02 < sim.data["outlier"].mean() < 0.08
    # Every group's replicate series lie on several plates, and every plate holds several groups.
    assert sim.data.groupby("group")["plate"].nunique().min() >= 2
    assert sim.data.groupby("plate")["group"].nunique().min() >= 2
    assert simulate_dose_response(4, 40, seed=3).plate_effects is None
    with pytest.raises(ValueError, match="outlier_fraction must lie in"):
        simulate_dose_response(4, 40, outlier_fraction=0.6)
    with pytest.raises(ValueError, match="n_plates must be >= 1"):
        simulate_dose_response(4, 40, n_plates=0)
