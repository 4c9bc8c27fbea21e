"""Model pieces shared by the recipes."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import expit

__all__ = [
    "bayesian_neural_network",
    "bnn_proba",
    "curve_draws",
    "four_pl",
    "softmax_regression",
    "softmax_regression_proba",
]


def _is_tensor(x) -> bool:
    # Checked by module name so that importing this module does not import PyTensor.
    return type(x).__module__.startswith("pytensor")


def four_pl(log_conc, bottom, top, log_ec50, hill):
    """The 4-parameter logistic (4PL) dose-response curve, on the log-concentration scale.

    ``bottom + (top - bottom) / (1 + exp(hill * (log_conc - log_ec50)))``

    The response goes from ``top`` (no compound) to ``bottom`` (saturating dose) as the dose rises, with
    ``hill > 0``; it is half-way between them at ``log_conc == log_ec50``. A curve that rises with dose simply has
    ``top < bottom``. This is the ``LL.4`` model of the R package drc, with ``hill`` its ``b`` and
    ``exp(log_ec50)`` its ``e``. Written with the logistic sigmoid so that it never overflows.

    Works on NumPy arrays and on PyTensor variables (inside a PyMC model), ``log_conc`` included: a
    ``pm.Data`` concentration works, which is how predictions at new doses are made. A concentration of zero
    (an untreated control, ``log_conc == -inf``) gives ``top`` exactly. Inside a graph the controls are masked
    before the curve is evaluated, so the gradient stays finite (``0 * -inf`` would otherwise make it NaN).
    """
    args = (bottom, top, log_ec50, hill)
    if not any(_is_tensor(a) for a in (log_conc, *args)):
        return bottom + (top - bottom) * expit(-hill * (log_conc - log_ec50))

    import pytensor.tensor as pt

    if not _is_tensor(log_conc):
        log_conc = np.asarray(log_conc, dtype=float)
        if np.isnan(log_conc).any() or np.isposinf(log_conc).any():
            raise ValueError("log_conc must be finite or -inf (a zero concentration); got NaN or +inf")
        if not np.isneginf(log_conc).any():  # no controls: no mask needed
            return bottom + (top - bottom) * pt.sigmoid(-hill * (log_conc - log_ec50))
    log_conc = pt.as_tensor_variable(log_conc)
    control = pt.isinf(log_conc) & (log_conc < 0)
    safe = pt.switch(control, 0.0, log_conc)
    curve = bottom + (top - bottom) * pt.sigmoid(-hill * (safe - log_ec50))
    return pt.switch(control, top, curve)


def curve_draws(posterior, log_conc, names=("bottom", "top", "log_ec50", "hill")):
    """4PL curves evaluated at ``log_conc`` for every posterior (or prior) draw.

    Parameters
    ----------
    posterior
        An xarray Dataset such as ``idata.posterior`` (dims chain, draw) holding scalar variables
        with the given ``names``.
    log_conc
        1-D grid of log concentrations.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_chains * n_draws, len(log_conc))``.
    """
    missing = [n for n in names if n not in posterior]
    if missing:
        raise KeyError(f"posterior lacks {missing}; it has {list(posterior.data_vars)}")
    params = [np.asarray(posterior[n]).reshape(-1, 1) for n in names]
    return four_pl(np.asarray(log_conc, dtype=float)[None, :], *params)


def softmax_regression(
    X,
    y,
    *,
    feature_names,
    class_names,
    coef_sd: float = 1.0,
    intercept_sd: float = 3.0,
    batch_size: int | None = None,
):
    """Multinomial (softmax) logistic regression as a PyMC model.

    ``logits = intercept + X @ coef`` with zero-sum priors over classes: ``coef[feature, :]`` and
    ``intercept`` each sum to zero across classes, which makes the softmax identifiable without
    singling out a reference class (each coefficient reads "relative to the average class").
    The likelihood is ``pm.Categorical`` on the logits.

    Parameters
    ----------
    X, y
        Features ``(n, p)`` (standardised) and integer class codes ``(n,)`` in ``0..K-1``. ``y=None`` builds the
        prediction model: no likelihood, and a ``Deterministic`` ``p`` (the class probabilities of every row),
        for ``pm.sample_posterior_predictive(idata, model=..., var_names=["p"], predictions=True)`` with the
        draws of a fitted model.
    batch_size
        If given, fit on minibatches: one ``pm.Minibatch`` call draws matching rows of ``X`` and ``y``,
        and the likelihood is scaled with ``total_size=n``. For ADVI only (NUTS needs full data); seed
        the batches with ``pm.fit(random_seed=...)``. Either way ``X`` and the labels are ``pm.Data`` containers
        (``X``, ``labels``): compiled code then embeds no data, and Numba's disk cache keeps it.
    """
    import pymc as pm

    X, y, n = _classification_inputs(X, y, feature_names, class_names, batch_size)
    coords = {"feature": list(feature_names), "class": list(class_names)}
    with pm.Model(coords=coords) as model:
        X_data, y_data = _data_or_minibatch(X, y, batch_size)
        intercept = pm.ZeroSumNormal("intercept", sigma=intercept_sd, dims="class")
        coef = pm.ZeroSumNormal("coef", sigma=coef_sd, dims=("feature", "class"), n_zerosum_axes=1)
        _categorical_output(intercept + X_data @ coef, y_data, n, batch_size)
    return model


def _classification_inputs(X, y, feature_names, class_names, batch_size):
    X = np.asarray(X, dtype=float)
    if y is None:
        if batch_size is not None:
            raise ValueError("a prediction model (y=None) takes no batch_size")
        _check_classification_data(X, np.zeros(X.shape[0] if X.ndim == 2 else 0, dtype=int), feature_names,
                                   class_names)  # fmt: skip
        return X, None, X.shape[0]
    y = np.asarray(y)
    n, _p = _check_classification_data(X, y, feature_names, class_names)
    return X, y, n


def _categorical_output(logits, y_data, n, batch_size):
    """The likelihood, or for a prediction model (no labels) the class probabilities as ``p``."""
    import pymc as pm

    if y_data is None:
        return pm.Deterministic("p", pm.math.softmax(logits, axis=-1))
    return pm.Categorical("y", logit_p=logits, observed=y_data, total_size=n if batch_size else None)


def _data_or_minibatch(X, y, batch_size):
    """``X`` and the labels as ``pm.Data`` containers, or one ``pm.Minibatch`` call drawing matching rows of both
    (call inside a model)."""
    import pymc as pm

    if batch_size is None:  # the labels as pm.Data too, for the reason below
        return pm.Data("X", X), None if y is None else pm.Data("labels", np.asarray(y).astype("int32"))
    n = X.shape[0]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be a whole number in 1..{n}, got {batch_size!r}")
    # int32 labels: Categorical would otherwise cast the minibatch, which PyMC rejects as observed data. Both arrays go
    # in as pm.Data, not as constants: Numba does not cache a compiled function that embeds an array of over 1 MB (a
    # "dynamic global"), so with constants every run compiled the ADVI step function afresh.
    return pm.Minibatch(pm.Data("X", X), pm.Data("labels", y.astype("int32")), batch_size=int(batch_size))


def _check_classification_data(X, y, feature_names, class_names):
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, p), got {X.shape}")
    n, p = X.shape
    if n == 0 or p == 0:
        raise ValueError(f"X has no rows or no columns: shape {X.shape}")
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X, got {y.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    if len(feature_names) != p:
        raise ValueError(f"{len(feature_names)} feature names for {p} columns of X")
    k = len(class_names)
    if k < 2:
        raise ValueError(f"need at least 2 classes, got {k}")
    if len(set(class_names)) < k or len(set(feature_names)) < p:
        raise ValueError("class_names and feature_names must not repeat a name (they label the coefficients)")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k:
        raise ValueError(f"y must hold integer class codes 0..{k - 1}")
    return n, p


def _check_features(X, n_features: int) -> np.ndarray:
    """New rows to score: a finite 2-D (rows x features) array with the fitted number of features."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows x features), got shape {X.shape}; one row is X.reshape(1, -1)")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, the fitted model {n_features}")
    if not np.isfinite(X).all():
        raise ValueError(f"X has {int((~np.isfinite(X)).any(axis=1).sum())} row(s) with NaN or infinite values")
    return X


def softmax_regression_proba(posterior, X, *, chunk: int = 20_000) -> np.ndarray:
    """Class probabilities for every draw: shape ``(n_draws, n, n_classes)`` as float32.

    ``posterior`` holds ``intercept`` (chain, draw, class) and ``coef`` (chain, draw, feature, class).
    """
    from recipes_utils.evaluation import softmax

    a = np.asarray(posterior["intercept"]).reshape(-1, posterior["intercept"].shape[-1])
    b = np.asarray(posterior["coef"]).reshape(-1, *posterior["coef"].shape[-2:])
    X = _check_features(X, b.shape[1])
    out = np.empty((b.shape[0], X.shape[0], b.shape[2]), dtype=np.float32)
    for start in range(0, X.shape[0], chunk):
        sl = slice(start, start + chunk)
        logits = np.matmul(X[sl], b) + a[:, None, :]  # (draws, rows, classes); BLAS, unlike a plain einsum
        out[:, sl] = softmax(logits)
    return out


def bayesian_neural_network(
    X,
    y,
    *,
    hidden: tuple[int, ...] = (32, 32),
    class_names,
    batch_size: int | None = None,
    prior_scale: float = 1.0,
):
    """A feed-forward Bayesian neural network classifier: tanh hidden layers, softmax output.

    Every weight has a ``Normal(0, prior_scale / sqrt(fan_in))`` prior and every bias ``Normal(0, 1)``. The
    ``1/sqrt(fan_in)`` scaling keeps each unit's pre-activation at about unit scale under the prior whatever
    the layer's width (the reasoning behind Glorot / He initialisation, and Neal 1996's scaling for wide
    networks): the prior over functions neither saturates every tanh nor collapses to a constant. Output
    logits go to ``pm.Categorical``. With ``batch_size``, one ``pm.Minibatch`` call draws matching rows of
    ``X`` and ``y`` and the likelihood carries ``total_size=n``.

    Weights are named ``w0, w1, ...`` (input to output) and biases ``b0, b1, ...``. ``y=None`` builds the
    prediction model, with the class probabilities as ``p`` (see :func:`softmax_regression`).
    """
    import pymc as pm

    X, y, n = _classification_inputs(X, y, [f"x{i}" for i in range(np.shape(X)[-1])], class_names, batch_size)
    p = X.shape[1]
    hidden = tuple(int(h) for h in hidden)
    if not hidden or any(h < 1 for h in hidden):
        raise ValueError(f"hidden must list at least one layer width >= 1, got {hidden}")
    if not prior_scale > 0:
        raise ValueError(f"prior_scale must be positive, got {prior_scale}")
    sizes = [p, *hidden, len(class_names)]
    coords = {"class": list(class_names)}
    with pm.Model(coords=coords) as model:
        h, y_data = _data_or_minibatch(X, y, batch_size)
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            w = pm.Normal(f"w{i}", 0.0, prior_scale / np.sqrt(fan_in), shape=(fan_in, fan_out))
            b = pm.Normal(f"b{i}", 0.0, 1.0, shape=(fan_out,))
            h = h @ w + b
            if i < len(sizes) - 2:
                h = pm.math.tanh(h)
        _categorical_output(h, y_data, n, batch_size)
    return model


def bnn_proba(posterior, X, *, n_layers: int | None = None, chunk: int = 10_000) -> np.ndarray:
    """Class probabilities of a :func:`bayesian_neural_network` for every draw: ``(n_draws, n, n_classes)``."""
    from recipes_utils.evaluation import softmax

    present = 0  # the layers w0, b0, w1, b1, ... in the posterior, counted until one is missing
    while f"w{present}" in posterior and f"b{present}" in posterior:
        present += 1
    if present == 0:
        raise ValueError("posterior has no layer w0, b0: pass the posterior of a bayesian_neural_network")
    if f"w{present}" in posterior or f"b{present}" in posterior:
        raise ValueError(f"posterior has only one of w{present} and b{present}: a layer needs both")
    widths = [(posterior[f"w{i}"].shape[-2], posterior[f"w{i}"].shape[-1]) for i in range(present)]
    if any(widths[i][1] != widths[i + 1][0] for i in range(present - 1)):
        raise ValueError(f"the layers' weights do not chain (inputs x outputs per layer: {widths})")
    if n_layers is None:
        n_layers = present
    elif n_layers != present:
        raise ValueError(f"n_layers={n_layers}, but the posterior holds {present} layers (w0 ... w{present - 1})")
    ws = [np.asarray(posterior[f"w{i}"]).reshape(-1, *posterior[f"w{i}"].shape[-2:]) for i in range(n_layers)]
    bs = [np.asarray(posterior[f"b{i}"]).reshape(-1, posterior[f"b{i}"].shape[-1]) for i in range(n_layers)]
    X = _check_features(X, ws[0].shape[1])
    out = np.empty((ws[0].shape[0], X.shape[0], ws[-1].shape[-1]), dtype=np.float32)
    for start in range(0, X.shape[0], chunk):
        sl = slice(start, start + chunk)
        h = np.broadcast_to(X[sl], (ws[0].shape[0], *X[sl].shape))
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = h @ w + b[:, None, :]
            if i < n_layers - 1:
                h = np.tanh(h)
        out[:, sl] = softmax(h)
    return out
