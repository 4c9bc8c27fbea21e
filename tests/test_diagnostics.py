import arviz as az
import numpy as np
import pytest

from recipes_utils.diagnostics import ConvergenceError, ELBOConvergence, check_nuts


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
        check_nuts(idata, max_rhat=10, max_divergences=None)  # no sample_stats: the divergences are not checked


def test_a_trace_without_divergences_is_not_passed_as_if_it_had_none():
    # the posterior of a fit with 9 divergences, without its sample_stats, passed: the count became 0
    fit = fake_idata(n_div=9)
    posterior_only = az.InferenceData(posterior=fit.posterior)
    for idata in (
        posterior_only,
        az.from_dict(posterior=dict(fit.posterior), sample_stats={"tree_depth": np.ones((4, 1000))}),
    ):
        with pytest.raises(ValueError, match="idata has no sample_stats.diverging"):
            check_nuts(idata)
    assert set(check_nuts(posterior_only, max_divergences=None).index) == {"x", "y"}
    with pytest.raises(ConvergenceError, match="9 divergent transitions"):
        check_nuts(fit)


def test_single_chain_is_an_error():
    with pytest.raises(ValueError, match="at least 2 chains, got 1"):
        check_nuts(fake_idata(chains=1))


def _feed(conv, losses):
    """Call the callback as pm.fit would, every iteration, until it stops; return the stop iteration or None."""
    for i in range(1, len(losses) + 1):
        try:
            conv(None, losses[:i], i)
        except StopIteration:
            return i
    return None


def test_elbo_noise_criterion_stops_when_the_improvement_is_within_noise():
    rng = np.random.default_rng(0)
    it = np.arange(1, 40_001)
    # A loss that decays to a floor of 1e6 with per-step noise of sd 70, as full-batch ADVI at 400K observations.
    losses = 1e6 + 5e5 * np.exp(-it / 2000) + rng.normal(0, 70, it.size)
    conv = ELBOConvergence(window=1000, rtol=None, max_z=2)
    stop = _feed(conv, losses)
    # Two standard errors of a difference of window means: 2 * sqrt(2 * 70**2 / 1000) = 6.3. The improvement between
    # consecutive windows (a few times 5e5 * exp(-i / 2000)) drops below that between about 20,000 and 24,000.
    assert stop is not None and 20_000 <= stop <= 27_000, stop
    assert conv.converged_at == stop and conv.z_scores[-1][1] < 2
    # The same loss scaled up 100x with the same noise: a relative tolerance would stop far earlier, the noise
    # criterion later, because it still sees real improvement.
    big = 1e8 + 5e7 * np.exp(-it / 2000) + rng.normal(0, 70, it.size)
    assert _feed(ELBOConvergence(window=1000, rtol=1e-5), big) < _feed(
        ELBOConvergence(window=1000, rtol=None, max_z=2), big
    )


def test_elbo_noise_criterion_never_stops_a_steady_improvement():
    rng = np.random.default_rng(1)
    losses = np.linspace(2e5, 1e5, 30_000) + rng.normal(0, 50, 30_000)
    conv = ELBOConvergence(window=1000, rtol=None, max_z=2)
    assert _feed(conv, losses) is None
    with pytest.raises(ConvergenceError, match="improvement .* standard errors"):
        conv.check()


def test_elbo_convergence_needs_a_criterion():
    with pytest.raises(ValueError, match="give rtol, max_z or both"):
        ELBOConvergence(rtol=None)
    with pytest.raises(ValueError, match="max_z must be > 0"):
        ELBOConvergence(max_z=0)
