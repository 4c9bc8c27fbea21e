"""BFGS's inverse-Hessian estimate, the covariance of pymc-extras' default Laplace, moves with the last bits of a float.

    .venv/bin/python benchmarks/investigations/bfgs_hess_inv_last_bits.py [--datasets 20]

``pymc_extras.fit_laplace`` defaults to BFGS and uses its ``hess_inv`` as the Gaussian's covariance. That matrix is a
secant-update estimate built along the optimiser's path, and the path follows the last bits of every value and
gradient. This script fits the approximations recipe's SBC model (10 compounds, non-centred) to prior-predictive data
sets with SciPy's BFGS, once as is and once with the objective multiplied by (1 + 1e-15), and compares the two
``hess_inv`` sds with each other and with the exact Hessian's inverse at the same mode. The recipes' Laplace uses the
exact Hessian (``recipes_utils.approximations.laplace``). Appends one row per data set to
benchmarks/results/bfgs_hess_inv_last_bits.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
from scipy.optimize import minimize

from recipes_utils.approximations import gaussian
from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import SIMULATION_PRIORS, hierarchical_four_pl
from recipes_utils.inference import quiet_pymc
from recipes_utils.measurements import append_rows

RESULTS = Path(__file__).resolve().parent.parent / "results"


def bfgs_sds(funcs, scale: float):
    def fun(x):
        value, grad = funcs.f(x)
        return float(value) * scale, np.asarray(grad) * scale

    res = minimize(fun, funcs.x0.copy(), jac=True, method="BFGS")
    return res.x, np.sqrt(np.diag(res.hess_inv) / scale)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=20)
    n = ap.parse_args(argv).datasets
    design = simulate_dose_response(10, 160, seed=2).data
    model = hierarchical_four_pl(design, priors=SIMULATION_PRIORS, parameterization="noncentered")
    with quiet_pymc():
        prior = pm.sample_prior_predictive(draws=n, model=model, random_seed=3, var_names=["response"])
    funcs = gaussian.LaplaceFunctions(model, jacobian=False)  # pymc-extras' mode: no Jacobian
    rows = []
    for i in range(n):
        with model:
            pm.set_data({"y": prior.prior_predictive["response"].isel(chain=0, draw=i).to_numpy()})
        x, sd = bfgs_sds(funcs, 1.0)
        _, sd_bits = bfgs_sds(funcs, 1.0 + 1e-15)
        with np.errstate(invalid="ignore"):  # NaN where BFGS stopped at a point whose Hessian is not positive definite
            exact = np.sqrt(np.diag(np.linalg.inv(gaussian.dense_hessian(funcs.hessp, x))))
        rows.append({"dataset": i, "parameters": x.size,
                     "max_rel_change_last_bits": float(np.max(np.abs(sd_bits / sd - 1))),
                     "median_rel_change_last_bits": float(np.median(np.abs(sd_bits / sd - 1))),
                     "median_bfgs_over_exact": float(np.median(sd / exact)),
                     "max_abs_log_bfgs_over_exact": float(np.max(np.abs(np.log(sd / exact))))})  # fmt: skip
    out = append_rows(pd.DataFrame(rows), RESULTS / "bfgs_hess_inv_last_bits.csv")
    print(out.tail(n).round(4).to_string())


if __name__ == "__main__":
    main()
