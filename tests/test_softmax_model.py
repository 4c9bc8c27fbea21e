import numpy as np
import pymc as pm
import pytest
import xarray as xr
from scipy.special import softmax as scipy_softmax

from recipes_utils.diagnostics import ConvergenceError, ELBOConvergence
from recipes_utils.models import softmax_regression, softmax_regression_proba


def toy(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    logits = np.column_stack([np.zeros(n), 2 * X[:, 0], -2 * X[:, 1]])
    y = np.array([rng.choice(3, p=p) for p in scipy_softmax(logits, axis=1)])
    return X, y


def test_model_structure_and_likelihood():
    X, y = toy()
    m = softmax_regression(X, y, feature_names=["a", "b"], class_names=["x", "y", "z"])
    assert m.named_vars_to_dims["coef"] == ("feature", "class")
    ip = m.initial_point()
    # At the initial point (all zeros) every class has probability 1/3.
    loglik = m.compile_fn(m.logp(vars=[m["y"]], sum=True), inputs=m.value_vars)(ip)
    assert float(loglik) == pytest.approx(len(y) * np.log(1 / 3))


def test_minibatch_likelihood_is_scaled_to_the_full_data():
    X, y = toy()
    full = softmax_regression(X, y, feature_names=["a", "b"], class_names=["x", "y", "z"])
    mb = softmax_regression(X, y, feature_names=["a", "b"], class_names=["x", "y", "z"], batch_size=50)
    ip = full.initial_point()
    assert float(mb.compile_logp()(ip)) == pytest.approx(float(full.compile_logp()(ip)), rel=1e-9)


def test_advi_recovers_the_signs_and_stops_on_a_flat_elbo():
    X, y = toy(2000)
    m = softmax_regression(X, y, feature_names=["a", "b"], class_names=["x", "y", "z"], batch_size=256)
    conv = ELBOConvergence(window=200, rtol=2e-3)
    with m:
        approx = pm.fit(
            20_000,
            method="advi",
            obj_optimizer=pm.adam(learning_rate=0.02),
            callbacks=[conv],
            random_seed=0,
            progressbar=False,
        )
    assert conv.check() < 20_000
    coef = approx.sample(500, random_seed=0).posterior["coef"].mean(("chain", "draw")).to_numpy()
    # Zero-sum over classes: class y rises with a, class z falls with b.
    assert coef[0, 1] > coef[0, 0] + 1 and coef[1, 2] < coef[1, 0] - 1
    np.testing.assert_allclose(coef.sum(axis=1), 0, atol=1e-6)


def test_elbo_convergence_reports_failure():
    conv = ELBOConvergence(window=10, rtol=1e-6)
    losses = np.linspace(100, 50, 40)
    conv(None, losses[:20], 20)
    conv(None, losses, 40)
    with pytest.raises(ConvergenceError, match="before the ELBO flattened"):
        conv.check()
    with pytest.raises(StopIteration):
        ELBOConvergence(window=10, rtol=0.1)(None, np.ones(20), 20)
    with pytest.raises(ValueError, match="window must be >= 10"):
        ELBOConvergence(window=5)


def test_proba_matches_direct_computation():
    rng = np.random.default_rng(0)
    post = xr.Dataset(
        {
            "intercept": (("chain", "draw", "class"), rng.normal(size=(2, 3, 4))),
            "coef": (("chain", "draw", "feature", "class"), rng.normal(size=(2, 3, 5, 4))),
        }
    )
    X = rng.normal(size=(7, 5))
    p = softmax_regression_proba(post, X, chunk=3)
    direct = scipy_softmax(X @ post["coef"].values[1, 2] + post["intercept"].values[1, 2], axis=1)
    np.testing.assert_allclose(p[5], direct, rtol=1e-5)
    assert p.shape == (6, 7, 4)
    with pytest.raises(ValueError, match="one row is X.reshape\\(1, -1\\)"):
        softmax_regression_proba(post, X[0])  # IndexError before
    with pytest.raises(ValueError, match="NaN or infinite"):
        softmax_regression_proba(post, np.where(X > 1.5, np.inf, X))  # NaN probabilities before
    np.testing.assert_allclose(softmax_regression_proba(post, X[:1]), p[:, :1], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y": np.array([0, 1, 3])}, "class codes 0..2"),
        ({"feature_names": ["a"]}, "1 feature names for 2 columns"),
        ({"batch_size": 0}, "batch_size must be a whole number in"),
        ({"batch_size": True}, "batch_size must be a whole number in"),
        ({"X": np.array([[np.nan, 0.0]] * 3)}, "NaN"),
        ({"class_names": ["a", "a", "b"]}, "must not repeat a name"),
        ({"X": np.zeros((0, 2)), "y": np.zeros(0, dtype=int)}, "X has no rows or no columns"),
    ],
)
def test_bad_input(kwargs, match):
    args = {
        "X": np.zeros((3, 2)),
        "y": np.array([0, 1, 2]),
        "feature_names": ["a", "b"],
        "class_names": ["x", "y", "z"],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        softmax_regression(**args)


def test_the_prediction_model_gives_the_fast_path_probabilities():
    # The NumPy fast path (chunked, float32) must equal the model's own forward pass to 1e-6.
    X, y = toy(300)
    fit_model = softmax_regression(X, y, feature_names=["a", "b"], class_names=["x", "y", "z"])
    idata = pm.sample_prior_predictive(draws=30, model=fit_model, random_seed=3)
    X_new = np.random.default_rng(5).normal(size=(17, 2))
    pred_model = softmax_regression(X_new, None, feature_names=["a", "b"], class_names=["x", "y", "z"])
    pred = pm.sample_posterior_predictive(idata.prior, model=pred_model, var_names=["p"], predictions=True,
                                          progressbar=False)  # fmt: skip
    from_model = pred.predictions["p"].stack(s=("chain", "draw")).transpose("s", ...).to_numpy()
    np.testing.assert_allclose(softmax_regression_proba(idata.prior, X_new, chunk=5), from_model, atol=1e-6)
    assert "y" not in pred_model.named_vars
    with pytest.raises(ValueError, match="prediction model \\(y=None\\) takes no batch_size"):
        softmax_regression(X_new, None, feature_names=["a", "b"], class_names=["x", "y", "z"], batch_size=5)
