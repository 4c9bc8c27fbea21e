"""check_nuts's error says what to try, for each kind of failure it found and only for those."""

import arviz as az
import numpy as np
import pytest

from recipes_utils.diagnostics import ConvergenceError, check_nuts

ADVICE = {
    "divergences": ["raise target_accept (0.95, then 0.99)", "parameterization=", "non-centred", "shape the model"],
    "r_hat": ["longer chains", "rank plots", "several modes"],
    "ess": ["low ESS: more draws", "reparameterisation"],
}


def trace(*, stuck_chain=0.0, n_div=0, ar=0.0, seed=0, chains=4, draws=1000):
    """Draws of x and y: one chain of x shifted by ``stuck_chain``, AR(1) autocorrelation ``ar`` (low ESS)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(2, chains, draws))
    x = noise.copy()
    for t in range(1, draws):
        x[:, :, t] = ar * x[:, :, t - 1] + np.sqrt(1 - ar**2) * noise[:, :, t]
    x[0, 0] += stuck_chain
    diverging = np.zeros((chains, draws), dtype=bool)
    diverging.flat[:n_div] = True
    return az.from_dict(posterior={"x": x[0], "y": x[1]}, sample_stats={"diverging": diverging})


def message(idata, **limits) -> str:
    with pytest.raises(ConvergenceError) as err:
        check_nuts(idata, **limits)
    return str(err.value)


@pytest.mark.parametrize(
    "kind, idata, limits",
    [
        ("divergences", lambda: trace(n_div=3), {}),
        ("r_hat", lambda: trace(stuck_chain=3.0), {"min_ess_bulk": 0, "min_ess_tail": 0}),
        ("ess", lambda: trace(ar=0.97), {"max_rhat": 10}),
    ],
)
def test_each_failure_names_what_to_try_for_it_only(kind, idata, limits):
    text = message(idata(), **limits)
    problems, advice = text.split("What to try:")
    assert {"divergences": "divergent transitions", "r_hat": "r_hat > ", "ess": "ess_bulk < "}[kind] in problems
    for name, phrases in ADVICE.items():
        for phrase in phrases:
            assert (phrase in advice) == (name == kind), (name, phrase, text)


def test_divergences_come_first_and_each_advice_once():
    text = message(trace(n_div=5, ar=0.97, stuck_chain=3.0))
    advice = text.split("What to try:")[1].strip().splitlines()
    assert [line.split(":")[0] for line in advice] == ["- divergences", "- r_hat", "- low ESS"]
    assert len(text.splitlines()) <= 10  # short: the problems (at most four lines), the heading, three pieces of advice


def test_a_passing_fit_raises_nothing():
    assert set(check_nuts(trace()).index) == {"x", "y"}
