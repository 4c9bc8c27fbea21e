"""How much does mean-field ADVI shrink the softmax coefficients' uncertainty on all 120,991 training rows?

    .venv/bin/python benchmarks/softmax_full_data_sds.py

The softmax recipe compares ADVI with NUTS on a 2,000-row subsample (ADVI sd / NUTS sd: 0.445 for the quantitative
features' coefficients). NUTS on all rows costs a full pass over the data per leapfrog step; but with 121,000 rows
and 318 free parameters the posterior is close to Gaussian, so the Laplace approximation (the mode and the exact
Hessian there, ``recipes_utils.approximations.fit_method("laplace", ...)``; on the 2,000-row subsample it matches
NUTS's sds within a few percent, see the approximations recipe) is an accurate reference at full scale. This fits the
recipe's full-data minibatch ADVI (same settings and seed) and the Laplace approximation, and reports the median
ADVI sd / Laplace sd per kind of feature. Writes benchmarks/results/softmax_full_data_sds.csv.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from recipes_utils.approximations import fit_method
from recipes_utils.covtype import prepare_covtype
from recipes_utils.inference import fit_advi
from recipes_utils.measurements import append_rows
from recipes_utils.models import softmax_regression

OUT = Path(__file__).resolve().parent / "results" / "softmax_full_data_sds.csv"


def main():
    warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
    split = prepare_covtype(seed=1999)
    kw = {"feature_names": split.feature_names, "class_names": split.class_names}
    advi = fit_advi(softmax_regression(split.X_train, split.y_train, batch_size=1024, **kw), seed=1999,
                    max_steps=60_000, learning_rate=0.01, window=1000, rtol=1e-3, max_z=None, progress=False)  # fmt: skip
    advi_sd = advi.sample(2000, seed=1999).posterior["coef"].std(("chain", "draw")).to_numpy()
    start = time.perf_counter()
    laplace = fit_method("laplace", softmax_regression(split.X_train, split.y_train, **kw), seed=1999, draws=2000).idata
    laplace_seconds = time.perf_counter() - start
    laplace_sd = laplace.posterior["coef"].std(("chain", "draw")).to_numpy()
    ratio = advi_sd / laplace_sd
    is_quant = np.arange(len(split.feature_names)) < split.n_quantitative
    rows = [
        {"features": kind, "median_advi_sd_over_laplace_sd": float(np.median(ratio[sel])),
         "share_below_0.8": float(np.mean(ratio[sel] < 0.8)), "n_coefficients": int(sel.sum() * ratio.shape[1])}
        for kind, sel in (("quantitative", is_quant), ("indicator", ~is_quant))
    ]  # fmt: skip
    df = pd.DataFrame(rows)
    df["advi_seconds"], df["laplace_seconds"] = advi.seconds, laplace_seconds
    OUT.parent.mkdir(parents=True, exist_ok=True)
    append_rows(df, OUT)
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
