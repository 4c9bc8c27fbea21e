"""How much Laplace's SBC ranks (BFGS's inverse-Hessian estimate as the covariance) move with the last bits of a float.

    .venv/bin/python benchmarks/laplace_last_bits.py [--datasets 100]

The approximations recipe checks that the SBC ranks stored by ``benchmarks/sbc_approximations.py`` are this code's
by refitting Laplace, whose optimiser is deterministic. Its covariance, though, is BFGS's running estimate of the
inverse Hessian (as ``pymc_extras.fit_laplace`` uses it), which depends on the optimiser's whole path, and that path
depends on the last bits of every value and gradient: another CPU's Numba code gives other ranks. This script fits
Laplace to the recipe's SBC data sets (the same design, priors and seeds) as the code stands, and again with the
objective's value and gradient multiplied by (1 + 1e-15) and by (1 + 1e-12), and compares each with the stored
ranks and with each other: the share of ranks equal, the share within 3, and the chi-square p-values of uniform ranks
per variable. As a control it pairs the live ranks with the stored ranks of another data set (the next one), which is
what a CSV of other data sets would give. Writes benchmarks/results/laplace_last_bits.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from recipes_utils.approximations import Fitter, rank_uniformity, sbc
from recipes_utils.data import simulate_dose_response
from recipes_utils.dose_response import SIMULATION_PRIORS, hierarchical_four_pl

RESULTS = Path(__file__).resolve().parent / "results"
PARAMS = ["log_ec50_mu", "log_ec50_sd", "log_ec50", "top", "sigma"]
KEY = ["dataset", "method", "parameter"]


def laplace_ranks(model, n_datasets: int, rel: float) -> pd.DataFrame:
    original = Fitter._compile_laplace

    def perturbed(self):  # the objective times (1 + rel): a change in the last bits only
        st = original(self)
        f = st["f"]

        def g(x):
            value, grad = f(x)
            return value * (1 + rel), grad * (1 + rel)

        return {**st, "f": g}

    Fitter._compile_laplace = perturbed if rel else original
    try:
        return sbc(model, ["laplace"], data_name="y", params=PARAMS, n_datasets=n_datasets, seed=3, n_rank_draws=99,
                   n_jobs=1)  # fmt: skip
    finally:
        Fitter._compile_laplace = original


def compare(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    m = a.merge(b[[*KEY, "rank"]], on=KEY, suffixes=("", "_b"))
    d = (m["rank"] - m["rank_b"]).abs()
    per_set = (d <= 3).groupby(m["dataset"]).mean()
    return {"ranks": len(d), "equal": (d == 0).mean(), "within_3": (d <= 3).mean(), "max_diff": int(d.max()),
            "smoke_within_3": (d[m["dataset"] < 2] <= 3).mean(), "data_sets_under_half_within_3": int((per_set < 0.5).sum())}  # fmt: skip


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=100)
    n = ap.parse_args().datasets
    design = simulate_dose_response(10, 160, seed=2).data
    model = hierarchical_four_pl(design, priors=SIMULATION_PRIORS, parameterization="noncentered")
    stored = pd.read_csv(RESULTS / "sbc_approximations.csv", keep_default_na=False)
    stored = stored[(stored["method"] == "laplace") & (stored["dataset"] < n)]
    runs = {f"x(1+{rel:g})" if rel else "as is": laplace_ranks(model, n, rel) for rel in (0.0, 1e-15, 1e-12)}
    rows = []
    for name, r in runs.items():
        p = rank_uniformity(r).set_index("variable")["p_value"]
        rows.append({"run": name, "against": "stored", **compare(r, stored), **{f"p_{v}": p[v] for v in PARAMS}})
        if name != "as is":
            rows.append({"run": name, "against": "as is", **compare(r, runs["as is"])})
    p = rank_uniformity(stored).set_index("variable")["p_value"]
    rows.append({"run": "stored", "against": "", **{f"p_{v}": p[v] for v in PARAMS}})
    other = stored.assign(dataset=(stored["dataset"] + 1) % n)  # control: the stored ranks of another data set
    rows.append({"run": "as is", "against": "stored, next data set", **compare(runs["as is"], other)})
    out = pd.DataFrame(rows)
    out.to_csv(RESULTS / "laplace_last_bits.csv", index=False)
    print(out.round(4).to_string())


if __name__ == "__main__":
    main()
