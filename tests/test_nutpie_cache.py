"""recipes_utils.nutpie_cache: nutpie's compiled model, its two C callbacks cached on disk."""

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import nutpie
import pymc as pm
import pytest
from scipy import stats

from recipes_utils.nutpie_cache import compile_pymc_model_numba


def small_model(y):
    with pm.Model(coords={"obs": np.arange(len(y))}) as m:
        data = pm.Data("y_data", y, dims="obs")
        mu = pm.Normal("mu", 0, 10)
        sigma = pm.HalfNormal("sigma", 5)
        pm.Normal("y", mu, sigma, observed=data, dims="obs")
        pm.Deterministic("z", (data - mu) / sigma, dims="obs")
    return m


def logp_and_grad(compiled, x):
    """Call a compiled model's C log density callback, as nutpie's sampler does."""
    n = compiled.n_dim
    x = np.ascontiguousarray(x, dtype=float)
    grad, logp = np.zeros(n), np.zeros(())
    ptr = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
    code = compiled.compiled_logp_func.ctypes(n, ptr(x), ptr(grad), ptr(logp), compiled.user_data.ctypes.data)
    assert code == 0, f"the callback returned {code}"
    return float(logp), grad


def test_the_same_density_gradient_and_draws_as_nutpie():
    y = np.random.default_rng(0).normal(3.0, 2.0, size=50)
    ours, theirs = compile_pymc_model_numba(small_model(y)), nutpie.compile_pymc_model(small_model(y))
    assert ours.n_dim == theirs.n_dim == 2
    for x in np.random.default_rng(1).normal(size=(5, 2)):
        lp_ours, g_ours = logp_and_grad(ours, x)
        lp_theirs, g_theirs = logp_and_grad(theirs, x)
        np.testing.assert_allclose(lp_ours, lp_theirs, rtol=1e-12)
        np.testing.assert_allclose(g_ours, g_theirs, rtol=1e-10, atol=1e-12)
    draws = {}
    for name, compiled in [("ours", ours), ("nutpie", theirs)]:
        idata = nutpie.sample(compiled, draws=300, tune=300, chains=2, seed=3, progress_bar=False)
        draws[name] = idata.posterior
    assert set(draws["ours"].data_vars) == set(draws["nutpie"].data_vars) == {"mu", "sigma_log__", "sigma", "z"}
    # Same sampler, same seed: the draws agree to Monte Carlo error at least (bit for bit when the code is identical).
    for var in ("mu", "sigma"):
        a, b = draws["ours"][var].to_numpy().ravel(), draws["nutpie"][var].to_numpy().ravel()
        assert abs(a.mean() - b.mean()) < 4 * np.hypot(a.std(), b.std()) / np.sqrt(len(a) / 10)
    z = draws["ours"]["z"].to_numpy()
    expected = (y - draws["ours"]["mu"].to_numpy()[..., None]) / draws["ours"]["sigma"].to_numpy()[..., None]
    np.testing.assert_allclose(z, expected, rtol=1e-10)  # the expand callback stores the deterministic right


@pytest.mark.parametrize("n_new", [50, 80], ids=["same length", "longer"])
def test_new_data_reach_the_cached_callback(n_new):
    y = np.random.default_rng(0).normal(3.0, 2.0, size=50)
    ours = compile_pymc_model_numba(small_model(y))
    y_new = np.random.default_rng(1).normal(100.0, 2.0, size=n_new)
    swapped = ours.with_data(y_data=y_new)
    reference = nutpie.compile_pymc_model(small_model(y_new))
    x = np.array([1.0, 0.5])
    np.testing.assert_allclose(logp_and_grad(swapped, x)[0], logp_and_grad(reference, x)[0], rtol=1e-12)
    np.testing.assert_allclose(logp_and_grad(swapped, x)[1], logp_and_grad(reference, x)[1], rtol=1e-10)
    assert logp_and_grad(swapped, x)[0] != pytest.approx(logp_and_grad(ours, x)[0])


_CHILD = textwrap.dedent(
    """
    import json, sys, warnings
    import numpy as np, pymc as pm
    from recipes_utils.nutpie_cache import callback_cache_hits, compile_pymc_model_numba
    sys.path.insert(0, TESTS)
    from test_nutpie_cache import logp_and_grad

    with pm.Model() as m:
        x = pm.Data("x", np.linspace(0, 1, 40))
        b = pm.Normal("b", 0, 1, shape=2)
        pm.Normal("y", b[0] + b[1] * x, 0.5, observed=np.sin(np.linspace(0, 3, 40)))
    # Data as a NumPy constant of 1.6 MB, not pm.Data: Numba cannot cache that, and must not warn about it either.
    with pm.Model() as big:
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu, 1, observed=np.linspace(-1, 1, 200_000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled, compiled_big = compile_pymc_model_numba(m), compile_pymc_model_numba(big)
    logp, grad = logp_and_grad(compiled, [0.3, -0.7])  # asserts the callback returned 0
    print(json.dumps({"hits": callback_cache_hits(compiled), "hits_big": compiled_big.compiled_logp_func.cache_hits,
                      "logp": logp, "grad": grad.tolist(),
                      "cache_warnings": [str(w.message) for w in caught if "cache" in str(w.message).lower()]}))
    """
).replace("TESTS", repr(str(Path(__file__).resolve().parent)))


def _run_child(compiledir, numba_cache=True):
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={compiledir},numba__cache={numba_cache}")
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _expected_logp_and_grad(b):
    # The child's model by hand: b ~ Normal(0, 1), y ~ Normal(b0 + b1 x, 0.5), at the unconstrained point b.
    x, y = np.linspace(0, 1, 40), np.sin(np.linspace(0, 3, 40))
    resid = y - (b[0] + b[1] * x)
    logp = stats.norm.logpdf(b).sum() + stats.norm.logpdf(resid, scale=0.5).sum()
    grad = -b + np.array([resid.sum(), (resid * x).sum()]) / 0.25
    return logp, grad


def test_a_second_process_loads_both_callbacks_from_the_disk_cache(tmp_path):
    first = _run_child(tmp_path)
    second = _run_child(tmp_path)
    assert first["hits"] == 0, "an empty compile directory cannot hold the callbacks"
    assert second["hits"] == 2, "the second process compiled the callbacks again"
    # The callbacks loaded from disk compute the model's density and gradient (by hand, to rounding: PyMC writes the
    # density another way), the values the freshly compiled ones gave.
    logp, grad = _expected_logp_and_grad(np.array([0.3, -0.7]))
    for run in (first, second):
        np.testing.assert_allclose(run["logp"], logp, rtol=1e-8)
        np.testing.assert_allclose(run["grad"], grad, rtol=1e-8)
    np.testing.assert_allclose(second["logp"], first["logp"], rtol=1e-14)
    np.testing.assert_allclose(second["grad"], first["grad"], rtol=1e-14)
    # The log density of a model holding a constant over 1 MB is compiled every time, as nutpie compiles it, without a
    # warning (its expand callback holds no such constant and is cached).
    assert first["hits_big"] == second["hits_big"] == 0
    assert first["cache_warnings"] == second["cache_warnings"] == []
    # With PyTensor's Numba cache off, PyTensor gives no cache key: the callbacks are compiled, as nutpie does, even
    # though the directory holds them.
    assert _run_child(tmp_path, numba_cache=False)["hits"] == 0


def test_another_nutpie_version_gets_nutpies_own_compile(monkeypatch):
    from recipes_utils import nutpie_cache

    monkeypatch.setattr(nutpie_cache, "TESTED_NUTPIE", "0.0.0")
    compiled = compile_pymc_model_numba(small_model(np.random.default_rng(0).normal(size=10)))
    # nutpie's callbacks are compiled without a cache (Numba's NullCache), ours with one
    assert type(compiled.compiled_logp_func._cache).__name__ == "NullCache"
    monkeypatch.setattr(nutpie_cache, "TESTED_NUTPIE", nutpie.__version__)
    compiled = compile_pymc_model_numba(small_model(np.random.default_rng(0).normal(size=10)))
    assert type(compiled.compiled_logp_func._cache).__name__ != "NullCache"
