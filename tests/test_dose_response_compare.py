"""compare_curves when a family cannot be fitted: a sampler that cannot start, a leave-one-out refit that raises.
No NUTS: the fits are stood in for by prior draws (all these checks need)."""

from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest

from recipes_utils.dose_response import compare_curves, model_spec


def mortality(seed=0):
    rng = np.random.default_rng(seed)
    doses = np.repeat([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0], 3)
    with np.errstate(divide="ignore"):
        p = 0.05 + 0.85 / (1 + np.exp(-2 * (np.log(doses) - np.log(3.0))))
    return pd.DataFrame({"dose": doses, "dead": rng.binomial(20, p), "total": 20})


COLUMNS = {"likelihood": "binomial", "concentration": "dose", "response": "dead", "trials": "total",
           "zero_is_control": True}  # fmt: skip


@pytest.fixture
def fake_fits(monkeypatch):
    """fit_curves standing in for NUTS: prior draws as the posterior; a family named in ``fail`` raises ``error``."""
    import recipes_utils.dose_response.fit as fit_module

    state = {"fail": {}, "calls": []}

    def fit_curves(model, *, seed, **kwargs):
        name = model_spec(model).family.name
        state["calls"].append(name)
        if name in state["fail"]:
            raise state["fail"][name]
        idata = pm.sample_prior_predictive(draws=200, model=model, random_seed=seed)
        idata.add_groups(posterior=idata.prior)
        return SimpleNamespace(idata=idata)

    monkeypatch.setattr(fit_module, "fit_curves", fit_curves)
    return state


def test_a_family_that_cannot_start_is_left_out_with_its_reason(fake_fits):
    from pymc.exceptions import SamplingError

    fake_fits["fail"]["w2"] = SamplingError("Initial evaluation of model at starting point failed!")
    comparison = compare_curves(mortality(), ("ll4", "w2", "w1"), seed=1, refit=0, **COLUMNS)
    assert set(comparison.table.index) == {"ll4", "w1"} and "w2" not in comparison.fits
    assert comparison.failed["w2"].startswith("left out, its fit failed (SamplingError): Initial evaluation")
    assert any(note.startswith("w2: left out") for note in comparison.notes)
    fake_fits["fail"]["w1"] = RuntimeError("nutpie: all initialisation points failed")
    with pytest.raises(ValueError, match="fewer than two families could be compared.*RuntimeError"):
        compare_curves(mortality(), ("ll4", "w2", "w1"), seed=1, refit=0, **COLUMNS)
    fake_fits["fail"] = {"w2": TypeError("fit_curves() got an unexpected keyword argument 'drawz'")}
    with pytest.raises(TypeError, match="drawz"):  # a wrong argument is the caller's, not a family's failure
        compare_curves(mortality(), ("ll4", "w2"), seed=1, refit=0, **COLUMNS)


def test_a_refit_that_raises_leaves_that_familys_loo_marked_unreliable(fake_fits, monkeypatch):
    def reloo(*args, **kwargs):
        raise RuntimeError("the refit's sampler failed")

    monkeypatch.setattr(az, "reloo", reloo)
    comparison = compare_curves(mortality(), ("ll4", "w1"), seed=1, refit=10**6, **COLUMNS)
    pareto = comparison.pareto
    assert (pareto["n_high_k"] > 0).all()  # prior draws as a posterior: PSIS flags rows, so every family refits
    assert (pareto["refitted"] == 0).all() and not comparison.reliable and set(comparison.table.index) == {"ll4", "w1"}
    assert pareto["action"].str.contains("failed \\(RuntimeError: the refit's sampler failed\\)").all()
    assert sum("its LOO is unreliable" in note for note in comparison.notes) == 2


def test_leave_one_out_refits_are_checked_as_the_full_fit_is(fake_fits, monkeypatch):
    # a refit that fails fit_curves' checks must raise (and so mark the family's LOO unreliable), not pass unchecked
    import recipes_utils.dose_response.fit as fit_module

    seen = []
    stand_in = fit_module.fit_curves

    def fit_curves(model, *, seed, **kwargs):
        seen.append(kwargs)
        return stand_in(model, seed=seed, **kwargs)

    monkeypatch.setattr(fit_module, "fit_curves", fit_curves)
    compare_curves(mortality(), ("ll4", "w1"), seed=1, refit=10**6, **COLUMNS)
    refits = seen[2:]  # the two families' own fits come first
    assert refits, "no leave-one-out refit ran"
    assert all(kw.get("check", True) for kw in refits), "a refit ran with its checks off"
