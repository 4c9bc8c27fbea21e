"""Shared helpers for the Bayesian Analysis Recipes notebooks.

Modules
-------
config
    The scale of a run (``RECIPES_SCALE``: ``full`` or ``smoke``) and size selection.
data
    Loading the shipped data sets and simulating dose-response data with known truth.
models
    Model builders shared by the recipes: the 4-parameter logistic curve, softmax regression, a Bayesian
    neural network, and their predictive probabilities.
dose_response
    The hierarchical 4PL dose-response model from a tidy table (centred or non-centred, minibatch, exact
    replicate aggregation), interval coverage of known truth, and PSIS k-hat for ADVI fits.
diagnostics
    Convergence checks that raise when a fit cannot be trusted (NUTS diagnostics, ELBO flattening).
covtype
    Split, standardise and encode the forest cover type data for classification.
evaluation
    Calibration and predictive-uncertainty measures for classifiers.
gp
    Gaussian processes in plain NumPy: kernels, conditioning, posterior, marginal likelihood, fitting.
plotting
    Dose-response plots, curve bands, and the README gallery images.
runner
    Executes every notebook and renders the book (``make run``).
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"


def _disable_numba_disk_cache() -> None:
    """Make Numba-compiled models give the same draws in every run.

    PyTensor caches Numba-compiled functions on disk. Measured here (nutpie on the template's model, same seed):
    a run that compiled afresh and a run that loaded the cache gave draws that differed from the first
    iterations on (EC50 3.0812 against 3.0839 mM), so the first ``make run`` on a machine and the second
    disagreed. Compiling afresh every time is reproducible, at a few seconds per model. Users can override
    this with ``PYTENSOR_FLAGS=numba__cache=True``.
    """
    if "pytensor" in _sys.modules:
        if "numba__cache" not in _os.environ.get("PYTENSOR_FLAGS", ""):
            _sys.modules["pytensor"].config.numba__cache = False
        return
    flags = _os.environ.get("PYTENSOR_FLAGS", "")
    if "numba__cache" not in flags:
        _os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, "numba__cache=False"]))


_disable_numba_disk_cache()
