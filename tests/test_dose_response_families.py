"""Curve families: each curve against drc's closed form, each ECx inverted back, the PyTensor curve against NumPy."""

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest

from recipes_utils.dose_response import (
    CURVE_NAMES,
    curve_family,
    data_direction,
    dose_response_model,
    family_prior_rule,
    hierarchical_dose_response,
    model_spec,
)
from recipes_utils.dose_response.spec import ModelSpec

ALGEBRA = "FAST_COMPILE"  # graph values, not a backend (see tests/test_dose_response.py)

# drc's forms on the raw dose x (its help pages, with c the high-dose limit and d the control level; b > 0 here
# for a curve falling from d to c, except W2.4 where drc's own sign is b < 0 for a falling curve).
B, C, D, E, F = 1.7, 2.0, 10.0, 3.0, 0.6


def drc_form(name, x):
    with np.errstate(divide="ignore"):
        lx = np.log(x)
    if name == "ll4":
        return C + (D - C) / (1 + np.exp(B * (lx - np.log(E))))
    if name == "ll3":
        return D / (1 + np.exp(B * (lx - np.log(E))))
    if name == "ll5":
        return C + (D - C) / (1 + np.exp(B * (lx - np.log(E)))) ** F
    if name == "w1":
        return C + (D - C) * np.exp(-np.exp(B * (lx - np.log(E))))
    if name == "w2":
        b = -B  # drc: W2.4 falls for b < 0
        return C + (D - C) * (1 - np.exp(-np.exp(b * (lx - np.log(E)))))
    if name == "bc5":
        f = (D - C) * F / E  # drc's f, in response per dose
        return C + (D - C + f * x) / (1 + np.exp(B * (lx - np.log(E))))
    if name == "nec":
        b = F / E  # drc's NEC.4 rate, per dose
        return C + (D - C) * np.exp(-b * (x - E) * (x > E))
    raise AssertionError(name)


def params_for(family):
    p = {"bottom": C, "top": D, family.location: np.log(E), "hill": B, "asym": F, "hormesis": F, "rate": F}
    if family.name == "bc5":
        p["hill"] = B  # above 1, as bc5 needs
    return p


def family_of(name, zero_limit="bottom"):
    return curve_family(name, zero_limit=zero_limit) if name == "ll3" else curve_family(name)


DOSES = np.array([0.0, 0.01, 0.3, 1.0, 2.9, 3.0, 3.1, 7.0, 30.0, 1e3])


@pytest.mark.parametrize("name", CURVE_NAMES)
def test_each_curve_is_drcs_closed_form(name):
    family = family_of(name)
    with np.errstate(divide="ignore"):
        x = np.log(DOSES)
    ours = family.curve(x, params_for(family))
    np.testing.assert_allclose(ours, drc_form(name, DOSES), rtol=1e-12, atol=1e-12)
    assert ours[0] == (0.0 if family.zero_level == "top" else D)  # the control sits at top exactly


@pytest.mark.parametrize("name", CURVE_NAMES)
def test_the_pytensor_curve_is_the_numpy_curve_with_finite_gradients_at_controls(name):
    family = family_of(name)
    p = params_for(family)
    names = list(p)
    inputs = {n: pt.dscalar(n) for n in names}
    x = pt.dvector("x")
    curve = family.curve(x, inputs)
    grads = pt.grad(curve.sum(), [inputs[n] for n in family.params])
    fn = pytensor.function([x, *inputs.values()], [curve, *grads], mode=ALGEBRA, on_unused_input="ignore")
    with np.errstate(divide="ignore"):
        log_x = np.log(DOSES)
    value, *gradients = fn(log_x, *(p[n] for n in names))
    np.testing.assert_allclose(value, family.curve(log_x, p), rtol=1e-12)
    assert all(np.isfinite(g) for g in gradients)


@pytest.mark.parametrize("name", CURVE_NAMES)
@pytest.mark.parametrize("direction", ["falling", "rising"])
def test_each_ecx_inverts_the_curve(name, direction):
    """curve(ECx) is the level x % of the way from the control level to the high-dose limit, for random parameters
    of either direction, and for bc5 it is the last crossing (checked on a fine grid)."""
    family = family_of(name, "bottom" if direction == "falling" else "top")
    rng = np.random.default_rng(1)
    n = 200
    top, bottom = rng.uniform(5, 10, n), rng.uniform(0, 4, n)
    if direction == "rising":
        top, bottom = bottom, top
    p = {"top": top, "bottom": bottom, family.location: rng.normal(0, 2, n), "hill": rng.uniform(0.3, 5, n),
         "asym": rng.uniform(0.3, 3, n), "hormesis": rng.uniform(0.05, 3, n),
         "rate": rng.uniform(0.05, 10, n)}  # fmt: skip
    if family.name == "bc5":
        p["hill"] = rng.uniform(1.1, 5, n)
    if family.zero_level:
        p[family.zero_level] = np.zeros(n)
    shapes = {s.name: p[s.name] for s in family.shapes}
    for x in (1, 10, 50, 90, 99):
        log_ec = family.log_dose_at(1 - x / 100, p[family.location], shapes)
        assert np.isfinite(log_ec).all()
        target = p["top"] + x / 100 * (p["bottom"] - p["top"])
        np.testing.assert_allclose(family.curve(log_ec, p), target, rtol=1e-7, atol=1e-9 * np.abs(p["top"]).max())
        if not family.monotone:  # beyond the ECx the curve stays past the target: it is the last crossing
            beyond = family.curve(log_ec[:, None] + np.linspace(1e-6, 20, 400)[None, :], {
                k: np.asarray(v)[:, None] for k, v in p.items()})  # fmt: skip
            assert (np.sign(p["top"] - p["bottom"])[:, None] * (beyond - target[:, None]) <= 1e-9).all()


def test_ecx_conventions_outside_the_curves_range():
    for name in CURVE_NAMES:
        family = family_of(name)
        p = params_for(family)
        shapes = {s.name: p[s.name] for s in family.shapes}
        never = family.log_dose_at(np.array([0.0, -0.2]), p[family.location], shapes)
        assert np.isposinf(never).all()  # at or beyond the high-dose limit: never reached
        passed = family.log_dose_at(np.array([1.0, 5.0] if family.monotone else [5.0]), p[family.location], shapes)
        assert np.isneginf(passed).all()  # beyond anything the curve reaches on the control's side: passed at 0
    bc5 = curve_family("bc5")
    p = params_for(bc5)
    # a level between the control and the bump's height: the dose where the curve comes back down through it
    z = bc5.log_dose_at(1.05, p["log_e"], {"hill": p["hill"], "hormesis": p["hormesis"]})
    assert np.isfinite(z) and bc5.shape_at(z, p["log_e"], {"hill": p["hill"], "hormesis": p["hormesis"]}) == (
        pytest.approx(1.05)
    )
    assert z > p["log_e"] - 3


def test_ecx_is_not_the_location_for_asymmetric_and_hormetic_curves():
    for name in ("ll5", "w1", "w2", "bc5"):
        family = family_of(name)
        p = params_for(family)
        log_ec50 = family.log_dose_at(0.5, p[family.location], {s.name: p[s.name] for s in family.shapes})
        assert abs(log_ec50 - np.log(E)) > 0.05, name
    ll4 = curve_family("ll4")
    assert ll4.log_dose_at(0.5, np.log(E), {"hill": B}) == pytest.approx(np.log(E))


def test_ll3_takes_its_zero_limit_from_the_direction_of_the_data():
    x = np.log(np.repeat([0.1, 1.0, 10.0, 100.0], 3))
    falling = np.repeat([9.0, 7.0, 3.0, 0.5], 3)
    assert data_direction(x, falling) == "falling" and data_direction(x, falling[::-1]) == "rising"
    table = pd.DataFrame({"concentration": np.exp(x), "response": falling})
    assert model_spec(dose_response_model(table, curve="ll3")).family.zero_level == "bottom"
    rising = model_spec(dose_response_model(table.assign(response=falling[::-1]), curve="ll3"))
    assert rising.family.zero_level == "top" and rising.family.levels == ("bottom",)
    with pytest.raises(ValueError, match="zero_limit must be 'bottom'"):
        curve_family("ll3", zero_limit="lower")
    with pytest.raises(ValueError, match="unknown curve family 'll6'"):
        curve_family("ll6")


def grouped_table(n_doses=7, seed=0):
    rng = np.random.default_rng(seed)
    doses = np.geomspace(0.1, 100, n_doses)
    rows = [(g, d, 10 - 8 / (1 + (d / (3 * (g + 1))) ** -1.5) + rng.normal(0, 0.3)) for g in range(3) for d in doses
            for _ in range(2)]  # fmt: skip
    return pd.DataFrame(rows, columns=["group", "concentration", "response"])


@pytest.mark.parametrize("name", CURVE_NAMES)
def test_every_family_builds_one_and_many_curves_with_its_parameters(name):
    table = grouped_table()
    many = hierarchical_dose_response(table, curve=name)
    spec = model_spec(many)
    assert isinstance(spec, ModelSpec) and spec.family.name == name and spec.kind == "hierarchical"
    for param in spec.family.params:
        assert many[param].ndim == 1  # one value per group
    assert np.isfinite(many.compile_logp(mode=ALGEBRA)(many.initial_point()))
    forms = {"top": "shared", spec.family.location: "centered"}
    shared = hierarchical_dose_response(table, curve=name, parameterization=forms)
    assert "top_sd" not in shared.named_vars and spec.family.location in {v.name for v in shared.free_RVs}
    assert model_spec(shared).forms["top"] == "shared"
    one = dose_response_model(table[table["group"] == 0], curve=name)
    assert np.isfinite(one.compile_logp(mode=ALGEBRA)(one.initial_point()))
    assert set(spec.family.params) <= set(one.named_vars)


def test_a_family_with_more_parameters_than_doses_is_refused():
    table = grouped_table(n_doses=4)
    with pytest.raises(ValueError, match=r"curve='bc5' .* has 5 parameters, but the table has only 4 distinct dose.*"
                                         r"hormesis curve also needs doses below the bump"):  # fmt: skip
        hierarchical_dose_response(table, curve="bc5")
    with pytest.raises(ValueError, match="curve='ll5'.*5 parameters, but the data have only 4"):
        dose_response_model(table[table["group"] == 0], curve="ll5")
    hierarchical_dose_response(table, curve="w1")  # four parameters on four doses: accepted
    with pytest.raises(ValueError, match="decorrelated' is written for the 4PL"):
        hierarchical_dose_response(table, curve="w1", parameterization="decorrelated")


def test_prior_rules_are_listed_for_every_family():
    for name in CURVE_NAMES:
        rows = family_prior_rule(family_of(name))
        names = [r[0] for r in rows]
        family = family_of(name)
        assert family.location in names and all(s.free in names for s in family.shapes)


@pytest.mark.parametrize("name", ["w2", "nec", "bc5", "ll5"])
def test_shared_controls_and_plates_work_for_every_family(name):
    table = grouped_table()
    controls = pd.DataFrame({"group": 999, "concentration": 0.0, "response": [10.1, 9.8, 10.3]})
    data = pd.concat([table, controls], ignore_index=True)
    with pytest.raises(ValueError, match="must share its top"):
        hierarchical_dose_response(data, curve=name, zero_is_control=True, shared_controls=999)
    model = hierarchical_dose_response(data, curve=name, zero_is_control=True, shared_controls=999,
                                       parameterization={"top": "shared"})  # fmt: skip
    point = model.initial_point()
    assert np.isfinite(model.compile_logp(mode=ALGEBRA)(point)) and "top_sd" not in model.named_vars
    plated = hierarchical_dose_response(table.assign(plate=np.arange(len(table)) % 3), curve=name, plate="plate")
    assert "plate_effect" in plated.named_vars
    assert np.isfinite(plated.compile_logp(mode=ALGEBRA)(plated.initial_point()))


def test_default_priors_of_any_family_follow_the_4pl_rule_and_the_likelihoods_scale():
    from recipes_utils.dose_response import default_dose_response_priors, default_priors

    table = grouped_table()
    ll4 = default_dose_response_priors(table, group="group")
    old = default_priors(table)
    for name in ("bottom", "top", "log_ec50", "log_hill"):
        p = ll4.params[name]
        assert (p.mu, p.mu_sd, p.sd) == tuple(getattr(old, f"{name}_{k}") for k in ("mu", "mu_sd", "sd"))
    assert ll4.sigma == old.sigma and ll4.plate_sd == old.plate_sd
    counts = table.assign(n=20, k=lambda t: np.clip(np.round(t["response"] * 2), 0, 20).astype(int))
    binomial = default_dose_response_priors(counts, group="group", response="k", trials="n", likelihood="binomial",
                                            curve="bc5")  # fmt: skip
    assert list(binomial.params) == ["logit_top", "log_span", "log_e", "log_hill_excess", "log_hormesis"]
    assert binomial.sigma is None and binomial.params["log_span"].mu_sd == 1.0
    one = default_dose_response_priors(table[table["group"] == 0], curve="nec")
    assert set(one.params) == {"bottom", "top", "log_nec", "log_rate"}


def test_bc5_that_falls_too_slowly_to_reach_a_level_has_an_infinite_ecx():
    bc5 = curve_family("bc5")
    shapes = {"hill": np.array([1.0001, 1.5]), "hormesis": np.array([1.0, 1.0])}
    assert bc5.shape_at(1000.0, 0.0, {k: v[0] for k, v in shapes.items()}) > 0.5  # still above at log dose 1000
    log_ec = bc5.log_dose_at(0.5, 0.0, shapes)
    assert np.isposinf(log_ec[0])  # was the end of the search range, about 1000
    assert np.isfinite(log_ec[1]) and bc5.shape_at(log_ec[1], 0.0, {k: v[1] for k, v in shapes.items()}) == (
        pytest.approx(0.5)
    )


@pytest.mark.parametrize("name", [n for n in CURVE_NAMES if n != "bc5"])
def test_log_shapes_are_the_shapes_logs_without_rounding_or_underflow(name):
    import pytensor

    family = family_of(name)
    p = params_for(family)
    shapes = {s.name: p[s.name] for s in family.shapes}
    with np.errstate(divide="ignore"):
        x = np.log(DOSES)
    s = family.shape_at(x, p[family.location], shapes)
    log_s, log_1m_s = family.log_shape_at(x, p[family.location], shapes)
    positive, below_one = s > 0, s < 1  # where the naive logs are exact enough to compare (S underflows at 1e3)
    np.testing.assert_allclose(log_s[positive], np.log(s[positive]), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(log_1m_s[below_one], np.log1p(-s[below_one]), rtol=1e-7, atol=1e-12)
    assert log_s[0] == 0.0 and np.isneginf(log_1m_s[0])  # a control: S = 1
    assert np.isfinite(log_s[1:]).all()
    # far from the location, where S rounds to 1 or underflows to 0, the logs stay finite (NEC: S is exactly 1
    # below its threshold, log(1 - S) = -inf, with a zero gradient)
    far = np.array([p[family.location] - 600.0, p[family.location] + 600.0])
    log_s, log_1m_s = family.log_shape_at(far, p[family.location], shapes)
    assert np.isfinite(log_s).all() and (np.isfinite(log_1m_s[0]) or name == "nec") and np.isfinite(log_1m_s[1])
    xs, loc = pt.dvector("x"), pt.dscalar("loc")
    t_s, t_1m = family.log_shape_at(xs, loc, shapes)
    fn = pytensor.function([xs, loc], [t_s, t_1m, pytensor.grad((t_s + pt.switch(pt.isinf(t_1m), 0, t_1m)).sum(), loc)],
                           mode=ALGEBRA)  # fmt: skip
    grid = np.concatenate([[-np.inf], x[1:], far])
    value_s, _, grad = fn(grid, p[family.location])
    np.testing.assert_allclose(value_s, family.log_shape_at(grid, p[family.location], shapes)[0], rtol=1e-12)
    assert np.isfinite(grad)


def mortality_cells(trials=40, seed=0):
    """7 doses x 4 replicates x ``trials``, from 0 of N to N of N: the design whose empirical logits span about
    2 log(2N + 1)."""
    rng = np.random.default_rng(seed)
    doses = np.repeat([0.0, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0], 4)
    with np.errstate(divide="ignore"):
        p = 1 / (1 + np.exp(-4 * (np.log(doses) - np.log(3.0))))
    dead = rng.binomial(trials, p)
    dead[doses == 0], dead[doses == 100] = 0, trials
    return pd.DataFrame({"dose": doses, "dead": dead, "total": trials, "group": np.arange(len(doses)) % 2})


def test_default_level_priors_of_bounded_responses_do_not_pile_up_at_0_and_1():
    import pymc as pm

    from recipes_utils.dose_response import default_dose_response_priors, level_scales

    data = mortality_cells()
    kwargs = {"concentration": "dose", "response": "dead", "trials": "total", "likelihood": "binomial",
              "zero_is_control": True}  # fmt: skip
    priors = default_dose_response_priors(data, **kwargs)
    top = priors.params["logit_top"]
    assert top.mu_sd == 2.5 and abs(top.mu) < 0.1  # capped: R, the empirical logits' range, is 11.5 here
    for model in (dose_response_model(data, **kwargs), hierarchical_dose_response(data, group="group", **kwargs)):
        draws = pm.draw(model["top"], draws=4000, random_seed=1)
        inside = ((draws > 0.01) & (draws < 0.99)).mean()
        assert inside > 0.85, inside  # was 31% (Normal(0, 11.5) on the logit): most of it below 0.01 or above 0.99
    grouped = default_dose_response_priors(data, group="group", **kwargs)
    assert grouped.params["logit_top"].sd == 1.0 and grouped.plate_sd == 1.0
    # the caps on the log scale of counts, and the identity scale's rule unchanged
    assert level_scales("log", 7.4) == {"mu_sd": 3.7, "sd": 1.0, "plate_sd": 1.0}
    assert level_scales("log", 4.0)["mu_sd"] == 2.5 and level_scales("log", 1.2)["mu_sd"] == 1.2
    assert level_scales("logit", 1.5) == {"mu_sd": 1.5, "sd": 0.75, "plate_sd": 0.75}
    assert level_scales("identity", 30.0) == {"mu_sd": 30.0, "sd": 15.0, "plate_sd": 15.0}
    rule = {row[0]: row[1:] for row in family_prior_rule("ll4", likelihood="binomial")}
    level = rule["top (population mean; one curve: its value)"]
    assert level[0] == "Normal(c, min(R, 2.5))" and "between 0.01 and 0.99" in level[1]
    assert family_prior_rule("ll4")[0][1] == "Normal(c, R)"
    assert family_prior_rule("ll4", likelihood="poisson")[0][1] == "Normal(c, min(R, max(R / 2, 2.5)))"
