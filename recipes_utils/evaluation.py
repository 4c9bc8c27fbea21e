"""Evaluating probabilistic classifiers on held-out data: calibration and predictive uncertainty."""

from __future__ import annotations

import numpy as np

__all__ = [
    "accuracy_rejection",
    "calibration_bins",
    "entropy_decomposition",
    "expected_calibration_error",
    "plot_reliability",
    "softmax",
]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax (subtracts the maximum before exponentiating)."""
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _check_probs(probs, y):
    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (n, n_classes), got {probs.shape}")
    if y.shape != (probs.shape[0],):
        raise ValueError(f"y must have shape ({probs.shape[0]},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= probs.shape[1]:
        raise ValueError(f"y must hold integer class codes 0..{probs.shape[1] - 1}")
    if not np.isfinite(probs).all() or (probs < 0).any() or not np.allclose(probs.sum(axis=1), 1, atol=1e-6):
        raise ValueError("each row of probs must be a probability vector (non-negative, summing to 1)")
    return probs, y


def calibration_bins(probs, y, n_bins: int = 10):
    """Top-label reliability: per equal-width confidence bin, the mean confidence, accuracy and count."""
    probs, y = _check_probs(probs, y)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=n_bins) / count
    return edges, mean_conf, accuracy, count


def expected_calibration_error(probs, y, n_bins: int = 10) -> float:
    """Expected calibration error of the top label (Guo et al. 2017): sum over bins of
    (bin share) x |accuracy - mean confidence|, with ``n_bins`` equal-width confidence bins."""
    _, conf, acc, count = calibration_bins(probs, y, n_bins)
    used = count > 0
    return float(np.sum(count[used] / count.sum() * np.abs(acc[used] - conf[used])))


def plot_reliability(ax, probs, y, *, n_bins: int = 10, label: str | None = None, **kw):
    """Reliability diagram: accuracy against confidence per bin, with the diagonal of perfect calibration."""
    _, conf, acc, count = calibration_bins(probs, y, n_bins)
    used = count > 0
    ece = expected_calibration_error(probs, y, n_bins)
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
    ax.plot(conf[used], acc[used], "o-", label=f"{label} (ECE {ece:.3f})" if label else f"ECE {ece:.3f}", **kw)
    ax.set(xlabel="confidence (top-class probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    return ece


def entropy_decomposition(probs_draws) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split each point's predictive uncertainty into its data and model parts (in nats).

    For class probabilities from ``S`` posterior draws, ``probs_draws`` of shape ``(S, n, K)``:

    - total: the entropy of the mean prediction, ``H[E_s p_s]``;
    - expected (aleatoric): the mean entropy of the draws, ``E_s H[p_s]``, the noise in the data that every
      plausible model sees;
    - mutual information (epistemic): total - expected, how much the draws disagree, what the model does not
      know (Houlsby et al. 2011; Depeweg et al. 2018).

    Returns ``(total, expected, mutual_information)``, each of shape ``(n,)``.
    """
    p = np.asarray(probs_draws, dtype=float)
    if p.ndim != 3:
        raise ValueError(f"probs_draws must have shape (n_draws, n, n_classes), got {p.shape}")
    if (p < 0).any() or not np.allclose(p.sum(axis=2), 1, atol=1e-4):
        raise ValueError("probs_draws must hold probability vectors along the last axis")
    mean = p.mean(axis=0)
    total = -np.sum(mean * np.log(np.clip(mean, 1e-12, None)), axis=1)
    expected = -np.mean(np.sum(p * np.log(np.clip(p, 1e-12, None)), axis=2), axis=0)
    return total, expected, np.clip(total - expected, 0, None)


def accuracy_rejection(probs, y, uncertainty, fractions=None) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy on the points kept when the most uncertain fraction is set aside.

    Returns ``(fractions, accuracies)``; at fraction 0 every point is kept. A useful uncertainty measure gives
    a curve that rises as more is set aside.
    """
    probs, y = _check_probs(probs, y)
    u = np.asarray(uncertainty, dtype=float)
    if u.shape != y.shape:
        raise ValueError(f"uncertainty must have shape {y.shape}, got {u.shape}")
    fractions = np.linspace(0, 0.9, 19) if fractions is None else np.asarray(fractions, dtype=float)
    if (fractions < 0).any() or (fractions >= 1).any():
        raise ValueError("fractions must lie in [0, 1)")
    order = np.argsort(u, kind="stable")  # most certain first
    correct = (probs.argmax(axis=1) == y)[order]
    keep = np.maximum(1, np.round((1 - fractions) * len(y)).astype(int))
    return fractions, np.array([correct[:k].mean() for k in keep])
