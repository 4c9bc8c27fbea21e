import arviz as az
import numpy as np
import pytest

from recipes_utils.diagnostics import ConvergenceError, check_nuts


def fake_idata(shift=0.0, n_div=0, chains=4, draws=1000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(chains, draws))
    x[0] += shift  # one chain stuck elsewhere
    diverging = np.zeros((chains, draws), dtype=bool)
    diverging.flat[:n_div] = True
    return az.from_dict(
        posterior={"x": x, "y": rng.normal(size=(chains, draws))}, sample_stats={"diverging": diverging}
    )


def test_good_fit_passes():
    summary = check_nuts(fake_idata())
    assert set(summary.index) == {"x", "y"}


def test_stuck_chain_fails_rhat():
    with pytest.raises(ConvergenceError, match=r"r_hat > 1.01: x="):
        check_nuts(fake_idata(shift=3.0))


def test_divergences_fail():
    with pytest.raises(ConvergenceError, match="3 divergent transitions"):
        check_nuts(fake_idata(n_div=3))


def test_low_ess_fails():
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(size=(4, 1000)), axis=1) * 0.01 + rng.normal(size=(4, 1000))
    idata = az.from_dict(posterior={"x": np.cumsum(rng.normal(size=(4, 1000)), axis=1), "w": walk})
    with pytest.raises(ConvergenceError, match="ess_bulk < 400"):
        check_nuts(idata, max_rhat=10)


def test_single_chain_is_an_error():
    with pytest.raises(ValueError, match="at least 2 chains, got 1"):
        check_nuts(fake_idata(chains=1))
