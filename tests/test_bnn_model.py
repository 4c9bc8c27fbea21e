import numpy as np
import pymc as pm
import pytest
import xarray as xr
from scipy.special import softmax as scipy_softmax

from recipes_utils.diagnostics import ELBOConvergence
from recipes_utils.models import bayesian_neural_network, bnn_proba


def xor_data(n=1500, seed=0):
    """A problem no linear model can solve: the class is the sign of x0 * x1."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    return X, (X[:, 0] * X[:, 1] > 0).astype(int)


def test_structure_and_prior_scale():
    X, y = xor_data(100)
    m = bayesian_neural_network(X, y, hidden=(8, 4), class_names=["a", "b"])
    assert [m[f"w{i}"].type.shape for i in range(3)] == [(2, 8), (8, 4), (4, 2)]
    sds = pm.draw(m["w1"], draws=2000, random_seed=0).std()
    assert sds == pytest.approx(1 / np.sqrt(8), rel=0.05)


def test_minibatch_likelihood_is_scaled():
    X, y = xor_data(400)
    full = bayesian_neural_network(X, y, hidden=(3,), class_names=["a", "b"])
    mb = bayesian_neural_network(X, y, hidden=(3,), class_names=["a", "b"], batch_size=40)
    ip = full.initial_point()
    assert float(mb.compile_logp()(ip)) == pytest.approx(float(full.compile_logp()(ip)), rel=1e-9)


def test_advi_learns_xor():
    X, y = xor_data()
    m = bayesian_neural_network(X, y, hidden=(16,), class_names=["a", "b"], batch_size=256)
    # A loose tolerance (5e-3) stops on the plateau before the network breaks symmetry, at chance accuracy.
    conv = ELBOConvergence(window=500, rtol=1e-3)
    with m:
        approx = pm.fit(
            30_000,
            method="advi",
            obj_optimizer=pm.adam(learning_rate=0.02),
            callbacks=[conv],
            random_seed=0,
            progressbar=False,
        )
    X_test, y_test = xor_data(1000, seed=1)
    probs = bnn_proba(approx.sample(200, random_seed=0).posterior, X_test).mean(axis=0)
    assert np.mean(probs.argmax(axis=1) == y_test) > 0.85  # a linear model gets about 0.5 here


def test_bnn_proba_matches_a_direct_forward_pass():
    rng = np.random.default_rng(0)
    shapes = {"w0": (3, 5), "b0": (5,), "w1": (5, 4), "b1": (4,)}
    post = xr.Dataset(
        {
            k: (("chain", "draw", *[f"{k}_{j}" for j in range(len(s))]), rng.normal(size=(1, 2, *s)))
            for k, s in shapes.items()
        }
    )
    X = rng.normal(size=(6, 3))
    p = bnn_proba(post, X, chunk=4)
    v = {k: post[k].values[0, 1] for k in shapes}
    direct = scipy_softmax(np.tanh(X @ v["w0"] + v["b0"]) @ v["w1"] + v["b1"], axis=1)
    np.testing.assert_allclose(p[1], direct, rtol=1e-5)
    # n_layers=1 on this 2-layer network returned a softmax over the 5 hidden units as if they were classes
    with pytest.raises(ValueError, match="n_layers=1, but the posterior holds 2 layers"):
        bnn_proba(post, X, n_layers=1)
    # an unrelated variable named like a layer is not taken for one (it raised KeyError 'w2')
    np.testing.assert_array_equal(bnn_proba(post.assign(w10=post["b0"]), X, chunk=4), p)
    with pytest.raises(ValueError, match="one row is X.reshape\\(1, -1\\)"):
        bnn_proba(post, X[0])  # IndexError before
    with pytest.raises(ValueError, match="X has 1 row\\(s\\) with NaN"):
        bnn_proba(post, np.where(np.arange(6)[:, None] == 2, np.nan, X))
    with pytest.raises(ValueError, match="X has 2 features, the fitted model 3"):
        bnn_proba(post, X[:, :2])
    with pytest.raises(ValueError, match="no layer w0"):
        bnn_proba(post.drop_vars(["w0", "b0"]), X)
    with pytest.raises(ValueError, match="only one of w1 and b1"):
        bnn_proba(post.drop_vars("b1"), X)  # read as one layer before: a softmax over the hidden units
    with pytest.raises(ValueError, match="do not chain"):
        bnn_proba(
            post.drop_vars("w1").assign(w1=post["w0"].rename({"w0_0": "a", "w0_1": "b"})), X
        )  # (3, 5) after (3, 5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hidden": ()}, "at least one layer"),
        ({"hidden": (0,)}, "at least one"),
        ({"prior_scale": 0}, "prior_scale must be positive"),
        ({"batch_size": 10_000}, "batch_size must be a whole number in"),
        ({"batch_size": 2.5}, "batch_size must be a whole number in"),
    ],
)
def test_bad_input(kwargs, match):
    X, y = xor_data(50)
    with pytest.raises(ValueError, match=match):
        bayesian_neural_network(X, y, class_names=["a", "b"], **kwargs)


def test_the_prediction_model_gives_the_fast_path_probabilities():
    X, y = xor_data(200)
    fit_model = bayesian_neural_network(X, y, hidden=(4, 3), class_names=["a", "b"])
    idata = pm.sample_prior_predictive(draws=25, model=fit_model, random_seed=3)
    X_new = np.random.default_rng(5).normal(size=(11, 2))
    pred_model = bayesian_neural_network(X_new, None, hidden=(4, 3), class_names=["a", "b"])
    pred = pm.sample_posterior_predictive(idata.prior, model=pred_model, var_names=["p"], predictions=True,
                                          progressbar=False)  # fmt: skip
    from_model = pred.predictions["p"].stack(s=("chain", "draw")).transpose("s", ...).to_numpy()
    np.testing.assert_allclose(bnn_proba(idata.prior, X_new, chunk=4), from_model, atol=1e-6)
