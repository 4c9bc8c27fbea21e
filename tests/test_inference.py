"""recipes_utils.inference: the NUTS and ADVI entry points every notebook, benchmark and test uses."""

import logging

import numpy as np
import pymc as pm
import pytest

from recipes_utils import inference
from recipes_utils.diagnostics import ConvergenceError


@pytest.fixture(autouse=True)
def forget_compiled_samplers():
    # sample_nuts remembers compiled samplers for the whole process; each test starts without them.
    inference._compiled_models.clear()
    yield
    inference._compiled_models.clear()


def normal_model(y, mu_sd=10.0):
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, mu_sd)
        sigma = pm.HalfNormal("sigma", 5)
        pm.Normal("y", mu, sigma, observed=y)
    return m


@pytest.mark.parametrize(
    "value, expected", [(None, True), ("", True), ("1", True), ("on", True), ("0", False), (" OFF ", False)]
)
def test_show_progress_reads_the_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv(inference.PROGRESS_ENV, raising=False)
    else:
        monkeypatch.setenv(inference.PROGRESS_ENV, value)
    assert inference.show_progress() is expected


def test_show_progress_rejects_other_values(monkeypatch):
    monkeypatch.setenv(inference.PROGRESS_ENV, "sometimes")
    with pytest.raises(ValueError, match="RECIPES_PROGRESS must be 1/on or 0/off.*'sometimes'"):
        inference.show_progress()


def test_sample_nuts_returns_the_fit_and_reuses_the_compiled_sampler():
    y = np.random.default_rng(0).normal(3.0, 1.0, 50)
    first = inference.sample_nuts(normal_model(y), seed=1, draws=300, tune=300, chains=2, progress=False)
    assert first.idata.posterior.sizes == {"chain": 2, "draw": 300}
    assert abs(float(first.idata.posterior["mu"].mean()) - y.mean()) < 0.5
    assert first.steps_per_draw > 0 and first.gradients > 600 and first.divergences == 0
    assert first.compile_seconds > 0 and not first.reused_compiled
    # The same model built again (a re-run notebook cell): no compilation, the same draws from the same seed.
    again = inference.sample_nuts(normal_model(y), seed=1, draws=300, tune=300, chains=2, progress=False)
    assert again.reused_compiled and again.compile_seconds == 0
    np.testing.assert_array_equal(again.idata.posterior["mu"], first.idata.posterior["mu"])
    # Other data or another prior is another model: compiled afresh.
    other = inference.sample_nuts(normal_model(y + 1), seed=1, draws=50, tune=50, chains=2, progress=False)
    assert not other.reused_compiled
    assert not inference.sample_nuts(
        normal_model(y, mu_sd=5.0), seed=1, draws=50, tune=50, chains=2, progress=False
    ).reused_compiled


def test_sample_nuts_sees_changed_shared_data():
    y = np.random.default_rng(0).normal(0.0, 1.0, 40)
    with pm.Model() as m:
        data = pm.Data("data", y)
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1.0, observed=data)
    a = inference.sample_nuts(m, seed=1, draws=200, tune=200, chains=2, progress=False)
    with m:
        pm.set_data({"data": y + 5.0})
    b = inference.sample_nuts(m, seed=1, draws=200, tune=200, chains=2, progress=False)
    assert b.reused_compiled  # compiled once; the new values swapped in
    assert float(b.idata.posterior["mu"].mean()) - float(a.idata.posterior["mu"].mean()) == pytest.approx(5, abs=0.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"draws": 0}, "draws must be an integer >= 1"),
        ({"chains": 1.5}, "chains must be an integer"),
        ({"target_accept": 1.0}, "target_accept must lie in"),
        ({"backend": "stan"}, "backend must be"),
    ],
)
def test_sample_nuts_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        inference.sample_nuts(normal_model(np.zeros(5)), seed=1, **kwargs)


@pytest.mark.parametrize("seed", [None, -1, 1.5, True, 2**64, np.random.default_rng(1)])
def test_every_fit_needs_a_whole_number_seed(seed):
    # None was accepted (a fit nobody can repeat: posterior means 3.1184, then 3.1378); the others failed inside nutpie
    # or NumPy with messages that did not say what a seed may be
    model = normal_model(np.zeros(5))
    for fit in (inference.sample_nuts, inference.fit_advi, inference.sample_numpyro):
        with pytest.raises(ValueError, match="seed must be a whole number from 0 to 2\\*\\*63 - 1"):
            fit(model, seed=seed)


def test_sample_nuts_refuses_a_discrete_variable_by_name():
    with pm.Model() as model:
        k = pm.Poisson("k", 3)
        pm.Normal("y", pm.Normal("mu", k, 1), 1, observed=np.zeros(5))
    with pytest.raises(ValueError, match="NUTS needs continuous variables; \\['k'\\] are discrete"):
        inference.sample_nuts(model, seed=1)


def test_fit_advi_stops_on_the_rule_and_logs_nothing_below_a_warning(caplog):
    # PyMC logs "ELBO converged ...", "Interrupted at ..." and "Finished [100%]: ..." at INFO on stderr, which a stored
    # notebook shows in red; fit_advi keeps them off, and leaves PyMC's logger as it found it.
    y = np.random.default_rng(0).normal(3.0, 1.0, 200)
    level = logging.getLogger("pymc").level
    with caplog.at_level(logging.INFO, logger="pymc"):
        fit = inference.fit_advi(normal_model(y), seed=1, max_steps=20_000, window=500, progress=False)
        fit.sample(10, seed=1)
        assert logging.getLogger("pymc").level == logging.INFO  # restored after the fit
    assert fit.converged and fit.converged_at < 20_000 and fit.steps <= fit.converged_at
    assert fit.seconds > 0
    assert abs(float(fit.sample(500, seed=1).posterior["mu"].mean()) - y.mean()) < 0.2
    assert not [r.getMessage() for r in caplog.records if r.levelno < logging.WARNING]
    assert logging.getLogger("pymc").level == level


def test_fit_advi_raises_when_the_rule_is_not_met():
    y = np.random.default_rng(0).normal(3.0, 1.0, 200)
    with pytest.raises(ConvergenceError, match="before the ELBO flattened"):
        inference.fit_advi(normal_model(y), seed=1, max_steps=40, window=20, max_z=None, rtol=1e-12, progress=False)
    fit = inference.fit_advi(
        normal_model(y), seed=1, max_steps=40, window=20, max_z=None, rtol=1e-12, progress=False, check=False
    )
    assert not fit.converged and fit.steps == 40


def test_fit_advi_full_rank_and_bad_settings():
    y = np.random.default_rng(0).normal(3.0, 1.0, 200)
    fit = inference.fit_advi(
        normal_model(y), seed=1, method="fullrank_advi", max_steps=20_000, window=500, progress=False
    )
    assert fit.method == "fullrank_advi" and fit.converged
    with pytest.raises(ValueError, match="method must be"):
        inference.fit_advi(normal_model(y), seed=1, method="svgd")
    with pytest.raises(ValueError, match="max_steps must be an integer >= 2 \\* window"):
        inference.fit_advi(normal_model(y), seed=1, max_steps=100, window=100)


def test_importing_the_package_leaves_pytensor_configuration_alone():
    import os
    import subprocess
    import sys

    code = (
        "import os, pytensor; before = {k: str(getattr(pytensor.config, k)) for k in ('numba__cache', 'mode', "
        "'linker', 'floatX')}; import recipes_utils, recipes_utils.inference, recipes_utils.dose_response; "
        "after = {k: str(getattr(pytensor.config, k)) for k in before}; "
        "print(before == after, after['numba__cache'], repr(os.environ.get('PYTENSOR_FLAGS', '')))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["True", "True", "''"]


def test_fit_advi_can_run_all_its_steps_and_still_report_the_rule():
    y = np.random.default_rng(0).normal(3.0, 1.0, 200)
    fit = inference.fit_advi(normal_model(y), seed=1, max_steps=6_000, window=500, stop=False, progress=False)
    assert fit.steps == 6_000 and fit.converged and fit.converged_at < 6_000


def test_sample_nuts_stores_only_the_named_variables_consistent_with_the_draws():
    def model_for():
        y = np.random.default_rng(2).normal(3.0, 1.0, 30)
        with pm.Model() as m:
            mu = pm.Normal("mu", 0, 10, shape=3)
            sigma = pm.HalfNormal("sigma", 5)
            pm.Deterministic("mu_twice", 2 * mu)
            pm.Deterministic("spread", mu.max() - mu.min())
            pm.Normal("y", mu[np.arange(30) % 3], sigma, observed=y)
        return m

    kwargs = {"seed": 1, "draws": 100, "tune": 100, "chains": 2, "progress": False}
    everything = inference.sample_nuts(model_for(), **kwargs)
    assert set(everything.idata.posterior.data_vars) == {"mu", "sigma", "sigma_log__", "mu_twice", "spread"}
    some = inference.sample_nuts(model_for(), var_names=["sigma", "spread"], **kwargs)
    # Another set of stored variables is another compiled sampler, not the one above reused.
    assert not some.reused_compiled
    # nutpie keeps the unconstrained free variables (mu, sigma_log__) in any case.
    assert set(some.idata.posterior.data_vars) == {"mu", "sigma", "sigma_log__", "spread"}
    post = some.idata.posterior  # what is stored belongs to the draws
    np.testing.assert_allclose(post["spread"], post["mu"].max("mu_dim_0") - post["mu"].min("mu_dim_0"), rtol=1e-12)
    np.testing.assert_allclose(post["sigma"], np.exp(post["sigma_log__"]), rtol=1e-12)
    # The same names in another order, repeated, as a tuple: the same stored set, the compiled sampler reused.
    assert inference.sample_nuts(model_for(), var_names=("spread", "sigma", "spread"), **kwargs).reused_compiled


@pytest.mark.parametrize(
    "var_names, error, message",
    [
        (["sigma", "y"], ValueError, r"var_names: \['y'\] not among the model's free variables and deterministics"),
        (["tau"], ValueError, r"var_names: \['tau'\]"),
        ("sigma", TypeError, "var_names must be a list of variable names, not the string 'sigma'"),
    ],
)
def test_sample_nuts_rejects_var_names_the_model_cannot_store(var_names, error, message):
    with pytest.raises(error, match=message):
        inference.sample_nuts(normal_model(np.zeros(5)), seed=1, var_names=var_names)


def test_sample_nuts_swaps_new_data_into_a_compiled_sampler_of_the_same_structure():
    def model_for(y):
        with pm.Model() as m:
            data = pm.Data("data", y)
            mu = pm.Normal("mu", 0, 10)
            pm.Normal("y", mu, 1.0, observed=data)
        return m

    rng = np.random.default_rng(3)
    first = inference.sample_nuts(model_for(rng.normal(0, 1, 30)), seed=1, draws=200, tune=200, chains=2,
                                  progress=False)  # fmt: skip
    other = inference.sample_nuts(model_for(rng.normal(8, 1, 45)), seed=1, draws=200, tune=200, chains=2,
                                  progress=False)  # fmt: skip
    assert not first.reused_compiled and other.reused_compiled
    assert float(other.idata.posterior["mu"].mean()) == pytest.approx(8, abs=0.6)  # the new data, not the old


def test_a_deterministic_that_changes_shape_with_the_data_is_compiled_afresh():
    def model_for(y):
        with pm.Model() as m:
            data = pm.Data("data", y)
            mu = pm.Normal("mu", 0, 10)
            pm.Deterministic("fitted", mu + 0 * data)
            pm.Normal("y", mu, 1.0, observed=data)
        return m

    inference.sample_nuts(model_for(np.zeros(10)), seed=1, draws=50, tune=50, chains=2, progress=False)
    fit = inference.sample_nuts(model_for(np.zeros(12)), seed=1, draws=50, tune=50, chains=2, progress=False)
    assert not fit.reused_compiled and fit.idata.posterior["fitted"].shape[-1] == 12


def test_sample_numpyro_samples_the_same_posterior_through_jax():
    y = np.random.default_rng(0).normal(3.0, 1.0, 50)
    fit = inference.sample_numpyro(normal_model(y), seed=1, draws=500, tune=500, chains=2, progress=False)
    assert fit.idata.posterior.sizes == {"chain": 2, "draw": 500}
    # The posterior of mu: Normal likelihood, nearly flat prior: mean ybar, sd about s / sqrt(n).
    mu = fit.idata.posterior["mu"]
    assert abs(float(mu.mean()) - y.mean()) < 0.05
    assert float(mu.std()) == pytest.approx(y.std(ddof=1) / np.sqrt(len(y)), rel=0.15)
    assert fit.steps_per_draw > 0 and fit.divergences == 0
    assert fit.gradients == int(fit.idata.sample_stats["n_steps"].sum())  # kept draws only: no warm-up statistics
    with pytest.raises(ValueError, match="chain_method must be 'vectorized' or 'parallel'"):
        inference.sample_numpyro(normal_model(y), seed=1, chain_method="sequential")
    with pytest.raises(ValueError, match="draws must be an integer >= 1"):
        inference.sample_numpyro(normal_model(y), seed=1, draws=0)
