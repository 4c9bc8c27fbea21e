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
