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
inference
    NUTS (nutpie) and ADVI (PyMC) as every recipe runs them: timing, convergence rule, progress bars
    (``RECIPES_PROGRESS``), a compiled sampler reused for an unchanged model.
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

Importing the package changes no global configuration (PyTensor flags, matplotlib, warnings).
"""

__version__ = "0.1.0"
