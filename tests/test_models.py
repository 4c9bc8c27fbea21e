import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from recipes_utils.models import curve_draws, four_pl


def test_four_pl_landmarks():
    bottom, top, log_ec50, hill = 1.0, 9.0, np.log(3.0), 2.0
    assert four_pl(log_ec50, bottom, top, log_ec50, hill) == pytest.approx(5.0)
    assert four_pl(-np.inf, bottom, top, log_ec50, hill) == top
    assert four_pl(np.inf, bottom, top, log_ec50, hill) == bottom
    # drc's LL.4 written on the concentration scale: d + (c - d) ... with b = -hill in drc's sign convention
    conc = np.array([0.5, 3.0, 12.0])
    expected = bottom + (top - bottom) / (1 + (conc / 3.0) ** hill)
    np.testing.assert_allclose(four_pl(np.log(conc), bottom, top, log_ec50, hill), expected)


def test_four_pl_does_not_overflow():
    with np.errstate(over="raise"):
        out = four_pl(np.array([-800.0, 800.0]), 0.0, 1.0, 0.0, 5.0)
    np.testing.assert_allclose(out, [1.0, 0.0])


def test_four_pl_tensor_matches_numpy_and_has_finite_gradient_at_controls():
    log_conc = np.array([-np.inf, -1.0, 0.0, 2.0])
    b, t, le, h = (pt.dscalar(n) for n in ("b", "t", "le", "h"))
    out = four_pl(log_conc, b, t, le, h)
    grads = pt.grad(out.sum(), [b, t, le, h])
    f = pytensor.function([b, t, le, h], [out, *grads])
    value, *g = f(0.5, 8.0, 0.3, 2.0)
    np.testing.assert_allclose(value, four_pl(log_conc, 0.5, 8.0, 0.3, 2.0))
    assert all(np.isfinite(x) for x in g)


def test_four_pl_with_symbolic_concentrations_masks_controls_in_the_graph():
    x = pt.dvector("x")  # what a pm.Data concentration is: a symbolic vector that may hold -inf
    b, t, le, h = (pt.dscalar(n) for n in ("b", "t", "le", "h"))
    out = four_pl(x, b, t, le, h)
    f = pytensor.function([x, b, t, le, h], [out, *pt.grad(out.sum(), [b, t, le, h])])
    log_conc = np.array([-np.inf, -1.0, 0.0, 2.0])
    value, *g = f(log_conc, 0.5, 8.0, 0.3, 2.0)
    np.testing.assert_allclose(value, four_pl(log_conc, 0.5, 8.0, 0.3, 2.0))
    assert value[0] == 8.0 and all(np.isfinite(x) for x in g)


def test_four_pl_tensor_rejects_nan_concentrations():
    with pytest.raises(ValueError, match="log_conc must be finite or -inf"):
        four_pl(np.array([np.nan, 1.0]), pt.dscalar(), 1.0, 0.0, 1.0)


def test_curve_draws():
    import xarray as xr

    post = xr.Dataset(
        {
            k: (("chain", "draw"), np.full((2, 3), v))
            for k, v in {"bottom": 0.0, "top": 10.0, "log_ec50": 0.0, "hill": 1.0}.items()
        }
    )
    curves = curve_draws(post, np.array([-np.inf, 0.0]))
    assert curves.shape == (6, 2)
    np.testing.assert_allclose(curves, [[10.0, 5.0]] * 6)
    with pytest.raises(KeyError, match="posterior lacks"):
        curve_draws(post.drop_vars("hill"), np.array([0.0]))


@pytest.mark.parametrize("batch_size", [None, 64])
@pytest.mark.parametrize("builder", ["softmax", "bnn", "dose_response"])
def test_models_embed_no_large_array_in_the_graph(builder, batch_size):
    # Numba does not cache a compiled function that embeds an array of over 1 MB (it becomes a "dynamic global"), so a
    # model whose data were graph constants compiled afresh on every run (minibatch ADVI's step function did).
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.sharedvar import TensorSharedVariable
    from pytensor.tensor.variable import TensorConstant

    from recipes_utils.data import simulate_dose_response
    from recipes_utils.dose_response import SIMULATION_PRIORS, hierarchical_four_pl
    from recipes_utils.models import bayesian_neural_network, softmax_regression

    rng = np.random.default_rng(0)
    n = 300_000  # labels: 1.2 MB as int32
    X, y = rng.normal(size=(n, 8)), rng.integers(0, 3, n)
    classes = ["a", "b", "c"]
    if builder == "softmax":
        names = [f"f{i}" for i in range(8)]
        model = softmax_regression(X, y, feature_names=names, class_names=classes, batch_size=batch_size)
    elif builder == "bnn":
        model = bayesian_neural_network(X, y, hidden=(4,), class_names=classes, batch_size=batch_size)
    else:
        data = simulate_dose_response(20, 160_000, seed=1).data  # 160,000 rows: each column over 1 MB
        model = hierarchical_four_pl(data, priors=SIMULATION_PRIORS, parameterization="centered", batch_size=batch_size)
    nodes = list(ancestors([model.logp()]))
    sizes = [v.data.nbytes for v in nodes if isinstance(v, TensorConstant)]
    assert max(sizes, default=0) < 1e6, f"a constant of {max(sizes) / 1e6:.1f} MB in the graph"
    rows = 160_000 if builder == "dose_response" else n
    assert any(isinstance(v, TensorSharedVariable) and v.get_value().shape[:1] == (rows,) for v in nodes), (
        "no shared data"
    )
