"""Why every NUTS draw diverged when the plate model ran in float32: a reproducer (PyMC's ZeroSumNormal).

    .venv/bin/python benchmarks/investigations/zerosum_float32_repro.py

PyMC's ``ZeroSumNormal`` log density (``pymc/distributions/multivariate.py``, ``zerosumnormal_logp``) checks that the
values sum to zero with ``pt.isclose(mean, 0, atol=1e-9)``, whatever ``floatX`` is. Its own transform maps the ``n - 1``
free coordinates onto the zero-sum values, and in float32 that map rounds: the mean of the values it returns is of the
order of float32's machine epsilon (1e-7) times their size, far above 1e-9. The check then fails and the log density
is ``-inf`` at almost every point away from zero. NUTS starts at zero (finite), and every trajectory out of it hits
``-inf``: every draw divergent, the step size driven towards zero. Measured here (PyMC 5.28.5): in float64 the log
density is finite at all 1,000 random points; in float32 it is ``-inf`` at 91.5% of them (50 values). The
equivalent model written as a Normal on the ``n - 1`` free coordinates (the transform is an isometry with a zero
log-Jacobian, so the density is the same) stays finite; ``hierarchical_four_pl`` uses that form in float32.
"""

import warnings

import numpy as np
import pytensor

warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")


def share_infinite(floatx: str, n_points: int = 1000, n: int = 50) -> float:
    """Share of random unconstrained points where ZeroSumNormal's log density is not finite."""
    import pymc as pm

    with pytensor.config.change_flags(floatX=floatx):
        with pm.Model() as model:
            pm.ZeroSumNormal("effect", sigma=1.0, shape=n)
        logp = model.compile_logp()
        rng = np.random.default_rng(0)
        values = rng.normal(size=(n_points, n - 1)).astype(floatx)
        return float(np.mean([not np.isfinite(logp({"effect_zerosum__": v})) for v in values]))


if __name__ == "__main__":
    for floatx in ("float64", "float32"):
        print(f"{floatx}: log density not finite at {share_infinite(floatx):.1%} of 1,000 random points")
