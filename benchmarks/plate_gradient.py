"""One log density + gradient of the per-measurement hierarchical 4PL with plate effects, against a hand-written floor.

    .venv/bin/python benchmarks/plate_gradient.py [--obs 400000] [--groups 3000] [--plates 500] [--calls 30]

With plate effects or a Student-t likelihood the replicates no longer collapse into cells, so every NUTS leapfrog step
is a pass over every measurement. This measures that pass, one log density and its gradient on the unconstrained
space (the median of ``--calls`` timed calls after a warm-up call), for the model ``hierarchical_four_pl(...,
plate="plate", likelihood=..., curve_at="points")`` builds, centred, on ``simulate_dose_response`` data with plates and 1% outliers:

- ``pytensor-numba``: nutpie's compiled function (PyTensor's Numba backend), what ``sample_nuts`` samples with;
- ``pytensor-numba-pm.StudentT`` (Student-t only): the same with PyMC's own ``StudentT``, which takes a ``log1p`` per
  row where the builder's :func:`~recipes_utils.dose_response.student_t_logp` takes a ``log`` (rows before 2026-12-03
  time this form as ``pytensor-numba``);
- ``pytensor-jax``: nutpie's ``backend="jax"`` function (PyTensor's JAX backend);
- ``pytensor-numba-float32`` / ``pytensor-jax-float32``: the same two for the model built with PyTensor's ``floatX``
  set to float32 (data and parameters in single precision; nutpie passes the point in float64 and casts it);
- ``jax-hand-float64`` / ``jax-hand-float32``: the same density written by hand in JAX (``jax.jit`` of
  ``jax.value_and_grad``), one curve value per row, the floor a PyTensor backend could reach on this CPU for the
  per-row form (``curve_at="rows"``, the builder's default);
- ``jax-hand-points-float64`` / ``-float32``: the same, with the curve evaluated once per distinct (group, dose)
  point and indexed out to the rows, as ``hierarchical_four_pl(..., curve_at="points")`` builds it (``curve_points``): the floor for
  the point form (``ratio_to_points_float64_floor``).

The ``pytensor-*`` rows time the point form; earlier versions of the CSV (in git, before 2026-12-02) timed the per-row
form, one curve value per measurement.

The hand-written density is checked against PyMC's (``model.compile_logp`` and ``compile_dlogp``) at random points
before anything is timed, so the floor is the same density, not a cheaper one. Writes
benchmarks/results/plate_gradient.csv (one row per likelihood and implementation, with the ratios to both float64
floors), replacing the file (earlier rows are in git).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from recipes_utils.measurements import append_rows

OUT = Path(__file__).resolve().parent / "results" / "plate_gradient.csv"


def build(n_obs, n_groups, n_plates, likelihood, seed=1):
    from recipes_utils.data import simulate_dose_response
    from recipes_utils.dose_response import SIMULATION_PRIORS, hierarchical_four_pl

    sim = simulate_dose_response(n_groups, n_obs, seed=seed, n_plates=n_plates, outlier_fraction=0.01)
    priors = dataclasses.replace(SIMULATION_PRIORS, plate_sd=10.0)
    model = hierarchical_four_pl(sim.data, priors=priors, parameterization="centered", plate="plate",
                                 likelihood=likelihood, curve_at="points")  # fmt: skip
    return model, priors


def hand_written(model, priors, dtype, points=False):
    """The model's joint log density (with the transforms' Jacobians) on its flat unconstrained vector, in JAX.

    With ``points`` the curve is evaluated at the distinct (group, dose) points and indexed out to the rows, as
    ``hierarchical_four_pl(..., curve_at="points")`` does; otherwise once per row (the form of the floor measured before 2026-12-02).
    """
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import gammaln
    from pymc.blocking import DictToArrayBijection

    info = DictToArrayBijection.map(model.initial_point()).point_map_info  # (name, shape, size, dtype) in flat order
    slices, start = {}, 0
    for name, shape, size, _ in info:
        slices[name] = (slice(start, start + size), shape)
        start += size
    row = model["point_of_row"].get_value()
    arrays = {"point_group_idx": model["point_group_idx"].get_value(), "point_log_conc": model["point_log_conc"].get_value(),
              "point_of_row": row, "plate_idx": model["plate_idx"].get_value(), "y": model["y"].get_value()}  # fmt: skip
    if not points:  # one curve value per row: each row's group and log concentration
        arrays["point_group_idx"], arrays["point_log_conc"] = (
            arrays["point_group_idx"][row],
            arrays["point_log_conc"][row],
        )
    data = {k: jnp.asarray(v, dtype=dtype if v.dtype.kind == "f" else jnp.int32) for k, v in arrays.items()}
    student = "nu" in model.named_vars
    half_log_2pi = 0.5 * np.log(2 * np.pi)

    def normal(x, mu, sd):
        return -0.5 * ((x - mu) / sd) ** 2 - jnp.log(sd) - half_log_2pi

    def logp(flat):
        def get(n):
            return flat[slices[n][0]].reshape(slices[n][1])

        total, values = 0.0, {}
        for name in ("bottom", "top", "log_ec50", "log_hill"):
            mu = get(f"{name}_mu")
            total += normal(mu, getattr(priors, f"{name}_mu"), getattr(priors, f"{name}_mu_sd")).sum()
            log_sd = get(f"{name}_sd_log__")
            sd = jnp.exp(log_sd)
            total += normal(sd, 0.0, getattr(priors, f"{name}_sd")) + np.log(2.0) + log_sd  # HalfNormal + Jacobian
            values[name] = get(name)
            total += normal(values[name], mu, sd).sum()
        for name in ("sigma", "plate_sd"):
            log_v = get(f"{name}_log__")
            values[name] = jnp.exp(log_v)
            total += normal(values[name], 0.0, getattr(priors, name)) + np.log(2.0) + log_v
        # ZeroSumNormal: n - 1 free values extended to n that sum to zero (PyMC's ZeroSumTransform), then Normal
        # terms with n - 1 degrees of freedom
        z = get("plate_effect_zerosum__")
        n = z.shape[0] + 1
        s = z.sum()
        norm = s / (jnp.sqrt(n) + n)
        plate = jnp.concatenate([z, (norm - s / jnp.sqrt(n))[None]]) - norm
        total += (-0.5 * (plate / values["plate_sd"]) ** 2).sum() - (n - 1) * (
            half_log_2pi + jnp.log(values["plate_sd"])
        )
        g, p = data["point_group_idx"], data["plate_idx"]
        hill = jnp.exp(values["log_hill"])
        curve = values["bottom"][g] + (values["top"][g] - values["bottom"][g]) * jax.nn.sigmoid(
            -hill[g] * (data["point_log_conc"] - values["log_ec50"][g]))  # fmt: skip
        mu_obs = (curve[data["point_of_row"]] if points else curve) + plate[p]
        r = (data["y"] - mu_obs) / values["sigma"]
        if student:
            log_nu = get("nu_log__")
            nu = jnp.exp(log_nu)
            alpha, beta = 2.0, 0.1  # hierarchical_four_pl's nu ~ Gamma(2, 0.1)
            total += alpha * np.log(beta) - gammaln(alpha) + (alpha - 1) * log_nu - beta * nu + log_nu  # Gamma + Jac.
            total += (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * jnp.log(nu * np.pi) - jnp.log(values["sigma"])
                      - (nu + 1) / 2 * jnp.log1p(r**2 / nu)).sum()  # fmt: skip
        else:
            total += (-0.5 * r**2 - jnp.log(values["sigma"]) - half_log_2pi).sum()
        return total

    return jax.jit(jax.value_and_grad(logp)), start


def check_against_pymc(model, fn, n_points=3, seed=0):
    """Raise AssertionError unless ``fn`` (a hand-written value-and-gradient) gives PyMC's log density and gradient.

    Checked at ``n_points`` random points near the model's initial point on the unconstrained space.
    """
    import jax.numpy as jnp
    from pymc.blocking import DictToArrayBijection, RaveledVars

    mapped = DictToArrayBijection.map(model.initial_point())
    logp_pymc, dlogp_pymc = model.compile_logp(), model.compile_dlogp()
    rng = np.random.default_rng(seed)
    for _ in range(n_points):
        x = mapped.data + 0.1 * rng.standard_normal(mapped.data.size)
        point = DictToArrayBijection.rmap(RaveledVars(x, mapped.point_map_info))
        value, grad = fn(jnp.asarray(x))
        ref_value, ref_grad = logp_pymc(point), dlogp_pymc(point)
        if not np.isclose(float(value), ref_value, rtol=1e-9):
            raise AssertionError(f"hand-written log density {float(value)} differs from PyMC's {ref_value}")
        if not np.allclose(np.asarray(grad), ref_grad, rtol=1e-6, atol=1e-6 * np.abs(ref_grad).max()):
            raise AssertionError("hand-written gradient differs from PyMC's")


def _caller(backend, compiled, x):
    """One call of nutpie's compiled log density + gradient at ``x``."""
    n = x.size
    if backend == "numba":
        fn = compiled.compiled_logp_func.ctypes
        g, lp = np.zeros(n), np.zeros(())

        def ptr(a):
            return a.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

        return lambda: fn(n, ptr(x), ptr(g), ptr(lp), compiled.user_data.ctypes.data)
    logp_fn = compiled._make_logp_func()
    return lambda: logp_fn(x, **compiled._shared_data)


def _jax_caller(fn, x):
    import jax

    return lambda: jax.block_until_ready(fn(x))


def median_call_s(call, n_calls):
    call()
    times = []
    for _ in range(n_calls):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def measure(likelihood, args):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import nutpie
    from pymc.blocking import DictToArrayBijection

    model, priors = build(args.obs, args.groups, args.plates, likelihood)
    start = time.perf_counter()
    fn64, n_dim = hand_written(model, priors, jnp.float64)
    x0 = DictToArrayBijection.map(model.initial_point()).data
    jax.block_until_ready(fn64(jnp.asarray(x0)))
    compile64_s = time.perf_counter() - start
    check_against_pymc(model, fn64)
    rows = []
    x = x0.copy()

    def time_nutpie(m, suffix=""):
        for backend in ("numba", "jax"):
            start = time.perf_counter()
            compiled = nutpie.compile_pymc_model(m, backend=backend)
            compile_s = time.perf_counter() - start
            rows.append({"implementation": f"pytensor-{backend}{suffix}", "compile_s": compile_s,
                         "seconds_per_call": median_call_s(_caller(backend, compiled, x), args.calls)})  # fmt: skip

    time_nutpie(model)
    if likelihood == "student_t":  # the same model with PyMC's StudentT, whose density takes a log1p per row
        from unittest import mock

        import pymc as pm

        from recipes_utils.dose_response import hierarchical as builder  # where hierarchical_four_pl looks it up

        def pymc_student_t(name, nu, mu, sigma, **kwargs):
            return pm.StudentT(name, nu=nu, mu=mu, sigma=sigma, **kwargs)

        with mock.patch.object(builder, "_student_t", pymc_student_t):
            pymc_model = build(args.obs, args.groups, args.plates, likelihood)[0]
        start = time.perf_counter()
        compiled = nutpie.compile_pymc_model(pymc_model, backend="numba")
        rows.append({"implementation": "pytensor-numba-pm.StudentT", "compile_s": time.perf_counter() - start,
                     "seconds_per_call": median_call_s(_caller("numba", compiled, x), args.calls)})  # fmt: skip
    import pytensor

    with pytensor.config.change_flags(floatX="float32"):  # the same model with every array and variable in float32
        time_nutpie(build(args.obs, args.groups, args.plates, likelihood)[0], "-float32")
    for points in (False, True):
        for dtype, name in ((jnp.float64, "float64"), (jnp.float32, "float32")):
            start = time.perf_counter()
            first = dtype == jnp.float64 and not points
            fn, _ = (fn64, n_dim) if first else hand_written(model, priors, dtype, points=points)
            xj = jnp.asarray(x, dtype=dtype)
            jax.block_until_ready(fn(xj))
            compile_s = compile64_s if first else time.perf_counter() - start
            if points and dtype == jnp.float64:  # after the compile time: the check compiles PyMC's functions too
                check_against_pymc(model, fn)
            rows.append({"implementation": f"jax-hand-{'points-' if points else ''}{name}", "compile_s": compile_s,
                         "seconds_per_call": median_call_s(_jax_caller(fn, xj), args.calls)})  # fmt: skip
    out = pd.DataFrame(rows)
    out.insert(0, "likelihood", likelihood)
    out.insert(1, "n_obs", args.obs)
    out.insert(2, "n_groups", args.groups)
    out.insert(3, "n_plates", args.plates)
    out.insert(4, "n_dim", n_dim)
    floor = out.loc[out["implementation"] == "jax-hand-float64", "seconds_per_call"].iloc[0]
    out["ratio_to_float64_floor"] = out["seconds_per_call"] / floor
    points_floor = out.loc[out["implementation"] == "jax-hand-points-float64", "seconds_per_call"].iloc[0]
    out["ratio_to_points_float64_floor"] = out["seconds_per_call"] / points_floor
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obs", type=int, default=400_000)
    parser.add_argument("--groups", type=int, default=3_000)
    parser.add_argument("--plates", type=int, default=500)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--likelihoods", default="normal,student_t")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    table = pd.concat([measure(lik, args) for lik in args.likelihoods.split(",")], ignore_index=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    append_rows(table, args.out)
    print(table.round(4).to_string(index=False))
    return table


if __name__ == "__main__":
    main()
