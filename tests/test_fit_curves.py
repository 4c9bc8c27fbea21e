"""fit_curves: NUTS at target_accept 0.95, one refit at 0.99 when the first fit diverged, then check_nuts."""

import arviz as az
import numpy as np
import pandas as pd
import pytest

from recipes_utils import inference
from recipes_utils.diagnostics import ConvergenceError
from recipes_utils.dose_response import CurveFit, fit_curves, four_pl_model
from recipes_utils.inference import NutsFit
from recipes_utils.models import four_pl


def fake_fit(n_div, seed=0, chains=4, draws=500):
    """A NutsFit with well-mixed draws (r-hat near 1, ESS in the thousands) and ``n_div`` divergences."""
    rng = np.random.default_rng(seed)
    diverging = np.zeros((chains, draws), dtype=bool)
    diverging.flat[:n_div] = True
    idata = az.from_dict(posterior={"a": rng.normal(size=(chains, draws))}, sample_stats={"diverging": diverging})
    return NutsFit(idata, 1.0, 0.5, chains, draws, draws)


@pytest.fixture
def sampler(monkeypatch):
    """sample_nuts replaced by a stub that returns the next fit of ``sampler.divergences`` and records each call."""

    class Stub:
        def __init__(self):
            self.divergences, self.calls = [0], []

        def __call__(self, model, **kwargs):
            self.calls.append(kwargs)
            return fake_fit(self.divergences[len(self.calls) - 1], seed=len(self.calls))

    stub = Stub()
    monkeypatch.setattr(inference, "sample_nuts", stub)
    return stub


def test_a_clean_first_fit_is_kept_and_checked(sampler):
    result = fit_curves("model", seed=3, draws=500, var_names=["a"])
    assert [c["target_accept"] for c in sampler.calls] == [0.95]
    assert sampler.calls[0] == {"target_accept": 0.95, "seed": 3, "chains": 4, "tune": 1000, "draws": 500,
                                "var_names": ["a"]}  # fmt: skip
    assert isinstance(result, CurveFit) and result.target_accept == 0.95 and not result.refitted
    assert result.divergences == {0.95: 0}
    assert list(result.diagnostics.index) == ["a"] and result.diagnostics["r_hat"].max() < 1.01
    assert result.idata is result.fit.idata


def test_a_fit_that_diverged_is_refitted_once_at_0_99_and_the_refit_kept(sampler):
    sampler.divergences = [12, 0]
    result = fit_curves("model", seed=3)
    assert [c["target_accept"] for c in sampler.calls] == [0.95, 0.99]
    assert sampler.calls[0] | {"target_accept": 0.99} == sampler.calls[1]  # same seed and settings otherwise
    assert result.target_accept == 0.99 and result.refitted and result.divergences == {0.95: 12, 0.99: 0}
    assert result.fit.divergences == 0
    assert str(result) == "target_accept 0.95: 12 divergences; target_accept 0.99: 0 divergences"


def test_divergences_left_after_the_refit_fail_the_check_with_both_fits_and_advice(sampler):
    sampler.divergences = [40, 3]
    with pytest.raises(ConvergenceError, match="3 divergent transitions") as err:
        fit_curves("model", seed=3)
    text = str(err.value)
    assert "raise target_accept" in text and "target_accept 0.95: 40 divergences; target_accept 0.99: 3" in text
    assert err.value.fit.target_accept == 0.99 and err.value.fit.divergences == {0.95: 40, 0.99: 3}
    assert len(sampler.calls) == 2  # one refit, not more


def test_no_refit_when_asked_and_no_check_when_asked(sampler):
    sampler.divergences = [7, 0]
    result = fit_curves("model", seed=3, retry_target_accept=None, check=False)
    assert len(sampler.calls) == 1 and result.target_accept == 0.95 and result.divergences == {0.95: 7}
    assert result.diagnostics is None
    sampler.calls.clear()
    result = fit_curves("model", seed=3, target_accept=0.9, retry_target_accept=0.97, check=False)
    assert [c["target_accept"] for c in sampler.calls] == [0.9, 0.97] and result.target_accept == 0.97


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"target_accept": 1.2}, r"target_accept must lie in \(0, 1\), got 1.2"),
        ({"retry_target_accept": 0.0}, r"retry_target_accept must lie in \(0, 1\)"),
        ({"target_accept": 0.99, "retry_target_accept": 0.95}, "must be above target_accept"),
        ({"chains": 1}, "at least 2 chains"),
        ({"max_rhat": 1.0}, "max_rhat must be above 1"),
        ({"min_ess": 0}, "min_ess must be positive"),
    ],
)
def test_bad_settings_are_refused_before_sampling(sampler, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_curves("model", seed=3, **kwargs)
    assert sampler.calls == []


def test_a_real_curve_fit_samples_at_the_rule_and_passes_its_check():
    rng = np.random.default_rng(4)
    conc = np.repeat([0.0625, 0.25, 0.5, 1, 4, 8, 16, 64, 256, 1024], 2).astype(float)  # 20 points, both plateaus
    y = four_pl(np.log(conc), 10, 100, np.log(4), 1.2) + rng.normal(0, 4, len(conc))
    model = four_pl_model(pd.DataFrame({"dose": conc, "y": y}), concentration="dose", response="y")
    result = fit_curves(model, seed=2, tune=500, draws=1000, min_ess=400, var_names=["log_ec50", "top"])
    assert result.target_accept in (0.95, 0.99) and next(iter(result.divergences)) == 0.95
    assert result.fit.draws == 1000 and result.idata.posterior.sizes["chain"] == 4
    # the sampler was told the rule's target: the tuned step size reaches about 0.95 acceptance, not the 0.8 default
    accept = float(result.idata.sample_stats["mean_tree_accept"].mean())
    assert accept > 0.9, accept
    assert set(result.diagnostics.index) >= {"log_ec50", "top"}
    ec50 = np.exp(result.idata.posterior["log_ec50"].to_numpy())
    assert np.quantile(ec50, 0.03) < 4 < np.quantile(ec50, 0.97)
