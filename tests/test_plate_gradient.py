"""The hand-written floor of benchmarks/plate_gradient.py is the density hierarchical_four_pl builds, and the check
that says so can fail; benchmarks/investigations/log1p_cost.py times loops that compute what they are named for."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "plate_gradient.py"


@pytest.fixture(scope="module")
def plate_gradient():
    import jax

    jax.config.update("jax_enable_x64", True)
    spec = importlib.util.spec_from_file_location("plate_gradient", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["plate_gradient"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["plate_gradient"]


@pytest.mark.parametrize("likelihood", ["normal", "student_t"])
def test_hand_written_density_is_pymcs_and_a_wrong_one_is_caught(plate_gradient, likelihood):
    import jax.numpy as jnp

    model, priors = plate_gradient.build(600, 6, 4, likelihood)
    fn, n_dim = plate_gradient.hand_written(model, priors, jnp.float64)
    assert n_dim == sum(v.size for v in model.initial_point().values())
    plate_gradient.check_against_pymc(model, fn)
    wrong, _ = plate_gradient.hand_written(model, dataclasses.replace(priors, sigma=priors.sigma * 2), jnp.float64)
    with pytest.raises(AssertionError, match="log density"):
        plate_gradient.check_against_pymc(model, wrong)


def test_log1p_cost_benchmark_times_loops_that_compute_what_they_say(tmp_path):
    import numpy as np

    spec = importlib.util.spec_from_file_location("log1p_cost", BENCH.parent / "investigations" / "log1p_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.random.default_rng(1).uniform(0.0, 5.0, 1000)
    for fn, expected in ((module.sum_log1p, np.log1p(x)), (module.sum_log, np.log(1 + x)),
                         (module.sum_reciprocal, 1 / (1 + x)), (module.sum_square, x * x)):  # fmt: skip
        assert fn(x) == pytest.approx(expected.sum(), rel=1e-12)
    table = module.main(["--n", "1000", "--calls", "3", "--out", str(tmp_path / "cost.csv")])
    assert list(table["function"]) == ["log1p", "log", "1/(1+x)", "x*x"] and (table["ms_per_pass"] > 0).all()
    assert (tmp_path / "cost.csv").exists()
