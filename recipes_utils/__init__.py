"""Shared helpers for the Bayesian Analysis Recipes notebooks.

The modules come in two groups. A reader imports the first to do statistics; the second runs the recipes as a book
(``make run``, ``make new``, ``make reproducible``, ``make benchmarks-page``). Nothing in the first group imports the second
(``tests/test_package_layout.py`` checks it), so the statistics work without the book's tools.

Statistics: what a reader imports
---------------------------------
config
    Run size and paths: ``by_scale``, ``get_scale``, ``is_smoke`` (``RECIPES_SCALE``), ``REPO`` (the repository root).
data
    Data: ``load_drc``, ``list_drc``, ``load_covtype``, ``data_dir``; simulated curves with known truth:
    ``simulate_dose_response``.
models
    Model builders: ``four_pl`` and ``curve_draws``, ``softmax_regression``, ``bayesian_neural_network``, with their
    predictive probabilities (``softmax_regression_proba``, ``bnn_proba``).
dose_response
    The 4PL builders for one curve and many, priors, predictions and checks of a fit: ``four_pl_model``,
    ``hierarchical_four_pl``, ``default_priors``, ``predict_curves``, ``interval_coverage`` (its ``__init__`` lists
    every file).
inference
    Fitting as the recipes do it: ``sample_nuts`` (nutpie), ``sample_numpyro`` (JAX), ``fit_advi`` (from ``advi``),
    ``show_progress`` (``RECIPES_PROGRESS``).
advi
    ADVI with a checked stop: ``fit_advi`` and what it returns (``AdviFit``), iterate averaging (``IterateAverage``),
    ``quiet_pymc``.
compile_cache
    ``cacheable_compiles``: a ``with`` block in which PyTensor's Numba disk cache finds a model again in the next
    process.
nutpie_cache
    ``compile_pymc_model_numba``: nutpie's compile with its C callbacks cached on disk; ``callback_cache_hits``.
diagnostics
    Checks that raise when a fit cannot be trusted: ``check_nuts``, ``ELBOConvergence``, ``ConvergenceError``.
evaluation
    Classifier checks: ``calibration_bins``, ``expected_calibration_error``, ``plot_reliability``,
    ``entropy_decomposition``, ``accuracy_rejection``.
gp
    Gaussian processes in NumPy: ``Kernel``, ``posterior``, ``log_marginal_likelihood``, ``fit_hyperparameters``,
    ``sample_prior``, ``sample_posterior``.
plotting
    Figures: ``plot_dose_response_data``, ``plot_curve_band``, ``save_gallery_figure`` (the README's images).
covtype
    The forest cover type data for classification: ``prepare_covtype`` (split, standardise, encode).
approximations
    Six inference methods behind one call (``fit_method``, ``make_fitter``), simulation-based calibration (``sbc``,
    ``rank_uniformity``), Laplace and DADVI from exact second derivatives (``approximations.gaussian``).

The book's machinery: how the recipes are run
---------------------------------------------
runner
    ``make run``: executes every notebook, reports progress, renders ``build/index.html``.
run_progress
    What ``make run`` shows while it works: ``Progress`` (a line per recipe, a bar on a terminal),
    ``stored_run_time``, ``format_run_time``.
book
    ``headline``: a recipe's key figure with its tolerance, collected by the runner for the book.
reproduce
    ``make reproducible``: runs each notebook twice and compares the headline figures.
scaffold
    ``make new``: a new notebook from the template (``new_notebook``).
measurements
    Benchmark rows with their date, machine and commit (``append_rows``); ``make benchmarks-page`` writes
    ``docs/benchmarks.md`` from them (``render_page``).
benchmark_registry
    The benchmarks on that page: ``BENCHMARKS`` (each CSV's script, settings and columns, or its summary).

Importing the package changes no global configuration (PyTensor flags, matplotlib, warnings).
"""

__version__ = "0.1.0"

#: The modules a reader imports to do statistics (none of them imports :data:`MACHINERY`).
STATISTICS = (
    "config",
    "data",
    "models",
    "dose_response",
    "inference",
    "advi",
    "compile_cache",
    "nutpie_cache",
    "diagnostics",
    "evaluation",
    "gp",
    "plotting",
    "covtype",
    "approximations",
)

#: The modules that run the recipes as a book (``__main__`` is the command line of ``scaffold``).
MACHINERY = (
    "runner",
    "run_progress",
    "book",
    "reproduce",
    "scaffold",
    "measurements",
    "benchmark_registry",
    "__main__",
)
