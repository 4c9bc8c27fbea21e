"""Shared helpers for the Bayesian Analysis Recipes notebooks.

Modules
-------
config
    The scale of a run (``RECIPES_SCALE``: ``full`` or ``smoke``) and size selection.
data
    Loading the shipped data sets and simulating dose-response data with known truth.
models
    Model pieces shared by the recipes (the 4-parameter logistic curve).
diagnostics
    Convergence checks that raise when a fit cannot be trusted.
runner
    Executes every notebook and renders the book (``make run``).
"""

__version__ = "0.1.0"
