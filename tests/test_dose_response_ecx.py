"""ECx tables and potency ratios: against closed forms computed from the posterior draws by hand, and the curve at
each ECx against its target level (families whose ECx has no closed form, link-scale curves)."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy.special import expit, logit

from recipes_utils.dose_response import (
    dose_response_model,
    ecx_draws,
    ecx_ratio,
    ecx_table,
    hierarchical_dose_response,
    model_spec,
)
from recipes_utils.dose_response.ecx import curve_parameter_draws, link_level_draws


def design(seed=0, n_groups=3):
    rng = np.random.default_rng(seed)
    doses = np.array([0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0])
    rows = []
    for g in range(n_groups):
        for d in doses:
            s = 1.0 / (1 + (d / (1.5 * (g + 1))) ** 1.5)
            for _ in range(2):
                total = 20
                rows.append({"group": f"c{g}", "dose": d, "dead": rng.binomial(total, 0.05 + 0.9 * (1 - s)),
                             "total": total, "y": 2 + 8 * s + rng.normal(0, 0.4)})  # fmt: skip
    return pd.DataFrame(rows)


def fake_posterior(model, draws=200, seed=1):
    idata = pm.sample_prior_predictive(draws=draws, model=model, random_seed=seed)
    idata.add_groups(posterior=idata.prior)
    return idata


def flat(posterior, name, group):
    return posterior[name].sel(group=group).to_numpy().ravel()


def test_relative_ecx_table_is_the_closed_form_from_each_draw():
    data = design()
    model = hierarchical_dose_response(data, concentration="dose", response="y", zero_is_control=True)
    idata = fake_posterior(model)
    table = ecx_table(model, idata, x=(10, 50, 90), prob=0.9)
    assert table.shape[0] == 9 and table.attrs["prob"] == 0.9
    assert list(table.columns[:9]) == ["group", "kind", "x", "level", "ecx", "ecx_lower", "ecx_upper", "lowest_dose",
                                       "highest_dose"]  # fmt: skip
    assert {"p_below_tested", "p_above_tested", "flag"} <= set(table.columns) and "nec" not in table.columns
    post = idata.posterior
    for _, row in table.iterrows():
        e, h = flat(post, "log_ec50", row["group"]), flat(post, "hill", row["group"])
        p = row["x"] / 100
        ec = np.exp(e + logit(p) / h)  # LL.4: curve(ECx) = top + p (bottom - top)
        assert row["ecx"] == pytest.approx(np.median(ec), rel=1e-6)
        assert row["ecx_lower"] == pytest.approx(np.quantile(ec, 0.05), rel=1e-6)
        assert row["ecx_upper"] == pytest.approx(np.quantile(ec, 0.95), rel=1e-6)
        assert row["p_above_tested"] == pytest.approx(np.mean(ec > 30.0))
        assert row["p_below_tested"] == pytest.approx(np.mean(ec < 0.1))
        assert row["lowest_dose"] == 0.1 and row["highest_dose"] == 30.0
    flags = set(table["flag"])
    assert flags <= {"within the tested doses", "interval reaches beyond the tested doses",
                     "likely above the highest dose: extrapolated, or never reached",
                     "likely below the lowest dose: extrapolated"}  # fmt: skip


def test_the_flag_says_when_an_ecx_lies_beyond_the_tested_doses():
    data = design()
    model = hierarchical_dose_response(data, concentration="dose", response="y", zero_is_control=True)
    idata = fake_posterior(model, draws=50)
    # a posterior whose EC50s sit far above the doses for one group and inside them for another
    post = idata.posterior
    post["log_ec50"].loc[{"group": "c0"}] = np.log(1e4)
    post["log_ec50"].loc[{"group": "c1"}] = np.log(2.0)
    post["hill"].loc[{"group": "c1"}] = 5.0
    table = ecx_table(model, idata, x=50).set_index("group")
    assert table.loc["c0", "p_above_tested"] == 1.0 and table.loc["c0", "flag"].startswith("likely above")
    assert table.loc["c1", "p_above_tested"] == 0.0 and table.loc["c1", "flag"] == "within the tested doses"
    assert table.loc["c0", "ecx"] == pytest.approx(1e4)


def test_absolute_ecx_is_where_the_curve_passes_a_level():
    data = design()
    model = hierarchical_dose_response(data, concentration="dose", response="y", zero_is_control=True)
    idata = fake_posterior(model, draws=100)
    draws = ecx_draws(model, idata, kind="absolute", level=[6.0])
    post = idata.posterior
    for group in ("c0", "c2"):
        top, bottom = flat(post, "top", group), flat(post, "bottom", group)
        e, h = flat(post, "log_ec50", group), flat(post, "hill", group)
        s = (6.0 - bottom) / (top - bottom)
        inside = (s > 0) & (s < 1)
        expected = np.where(inside, np.exp(e + np.log((1 - s) / s, where=inside, out=np.zeros_like(s)) / h),
                            np.where(s <= 0, np.inf, 0.0))  # fmt: skip
        got = draws.sel(group=group, effect=6.0).to_numpy().ravel()
        np.testing.assert_allclose(got, expected, rtol=1e-9)
        assert inside.any() and (~inside).any()  # both conventions are exercised
    table = ecx_table(model, idata, kind="absolute", level=6.0)
    assert table["kind"].eq("absolute").all() and table["level"].eq(6.0).all() and table["x"].isna().all()


@pytest.mark.parametrize("curve", ["bc5", "w2", "nec", "ll3"])
def test_the_curve_at_each_ecx_draw_is_its_target_on_the_response_scale(curve):
    """Including bc5 under a binomial likelihood, drawn on the logit scale: the ECx is still x % of the way from the
    control level to the high-dose limit in probability."""
    data = design()
    kwargs = {"likelihood": "binomial", "trials": "total", "response": "dead"} if curve in ("bc5", "w2") else {
        "response": "y"}  # fmt: skip
    model = hierarchical_dose_response(data, concentration="dose", zero_is_control=True, curve=curve, **kwargs)
    spec = model_spec(model)
    assert spec.link_curve == (curve == "bc5")
    idata = fake_posterior(model, draws=60)
    ec = ecx_draws(model, idata, x=(10, 50)).to_numpy()  # chain, draw, group, effect
    params = curve_parameter_draws(model, idata)
    on_scale = link_level_draws(model, idata) if spec.link_curve else None
    for k, x in enumerate((10, 50)):
        target = params["top"] + x / 100 * (params["bottom"] - params["top"])
        with np.errstate(divide="ignore"):
            at_ecx = spec.mean(np.log(ec[..., k]), params, on_scale)
        finite = np.isfinite(np.log(ec[..., k]))
        assert finite.mean() > 0.95
        np.testing.assert_allclose(at_ecx[finite], target[finite], rtol=1e-6, atol=1e-9)


def test_nec_is_a_column_where_the_family_has_one():
    data = design()
    model = hierarchical_dose_response(data, concentration="dose", response="y", zero_is_control=True, curve="nec")
    idata = fake_posterior(model, draws=80)
    table = ecx_table(model, idata, x=10)
    for _, row in table.iterrows():
        nec = np.exp(flat(idata.posterior, "log_nec", row["group"]))
        assert row["nec"] == pytest.approx(np.median(nec), rel=1e-9)
        assert row["nec_lower"] == pytest.approx(np.quantile(nec, 0.03), rel=1e-9)
        # an ECx lies above the NEC in every draw (the curve is flat up to it)
    ec = ecx_draws(model, idata, x=10).to_numpy()[..., 0]
    assert (ec >= np.exp(curve_parameter_draws(model, idata)["log_nec"]) * (1 - 1e-12)).all()


def test_ecx_ratio_is_the_posterior_of_the_ratio():
    data = design()
    model = hierarchical_dose_response(data, concentration="dose", response="y", zero_is_control=True)
    idata = fake_posterior(model)
    ratio = ecx_ratio(model, idata, "c0", "c2", x=50, prob=0.8)
    post = idata.posterior
    a, b = np.exp(flat(post, "log_ec50", "c0")), np.exp(flat(post, "log_ec50", "c2"))
    assert ratio.shape == (1, 10) and ratio.loc[0, "a"] == "c0" and ratio.attrs["prob"] == 0.8
    assert ratio.loc[0, "ratio"] == pytest.approx(np.median(a / b), rel=1e-6)
    assert ratio.loc[0, "ratio_upper"] == pytest.approx(np.quantile(a / b, 0.9), rel=1e-6)
    assert ratio.loc[0, "p_a_below_b"] == pytest.approx(np.mean(a < b))
    assert ratio.loc[0, "p_both_unreached"] == 0.0  # a relative EC50 of the 4PL is always reached
    # an absolute level that many draws of both curves never reach: the share of such pairs is reported
    level = ecx_ratio(model, idata, "c0", "c2", kind="absolute", level=6.0)
    draws = ecx_draws(model, idata, kind="absolute", level=6.0).isel(effect=0)
    ea, eb = (draws.sel(group=g).to_numpy().ravel() for g in ("c0", "c2"))
    both = np.isposinf(ea) & np.isposinf(eb)
    assert 0 < both.mean() < 1 and level.loc[0, "p_both_unreached"] == pytest.approx(both.mean())
    with pytest.raises(ValueError, match="'c9' is not a group of the model"):
        ecx_ratio(model, idata, "c0", "c9")
    with pytest.raises(ValueError, match="one effect level"):
        ecx_ratio(model, idata, "c0", "c1", x=(10, 50))


def test_one_curve_tables_and_argument_checks():
    data = design().query("group == 'c1'")
    model = dose_response_model(data, concentration="dose", response="dead", trials="total", likelihood="binomial",
                                zero_is_control=True, curve="w1")  # fmt: skip
    idata = fake_posterior(model, draws=40)
    table = ecx_table(model, idata, x=(10, 20, 50))
    assert list(table["group"]) == ["curve"] * 3 and list(table["x"]) == [10, 20, 50]
    assert (table["ecx_lower"] <= table["ecx"]).all() and (table["ecx"] <= table["ecx_upper"]).all()
    assert table["ecx"].is_monotonic_increasing  # a larger effect needs a larger dose
    with pytest.raises(ValueError, match="strictly between 0 and 100"):
        ecx_table(model, idata, x=(0, 50))
    with pytest.raises(ValueError, match="kind='absolute' needs level="):
        ecx_table(model, idata, kind="absolute")
    with pytest.raises(ValueError, match="kind must be 'relative', 'control', 'extra_risk' or 'absolute'"):
        ecx_table(model, idata, kind="direct")
    with pytest.raises(ValueError, match="prob must lie in"):
        ecx_table(model, idata, prob=94)


def test_predict_curves_follow_the_family_and_the_likelihood():
    from recipes_utils.dose_response import predict_curves

    data = design()
    model = hierarchical_dose_response(data, concentration="dose", response="dead", trials="total", curve="bc5",
                                       likelihood="binomial", zero_is_control=True)  # fmt: skip
    assert model_spec(model).family.direction == "rising"  # mortality rises: bottom = top + exp(log_span)
    idata = fake_posterior(model, draws=30)
    grid = np.array([-np.inf, np.log(0.5), np.log(5.0), np.log(50.0)])
    curves = predict_curves(model, idata, grid, groups=["c2", "c0"])
    params = curve_parameter_draws(model, idata)
    post = idata.posterior
    for j, label in ((0, "c2"), (1, "c0")):
        # Brain-Cousens on the logit scale, written out: logit(mu) = lb + (lt - lb) (1 + f u) / (1 + u**h)
        lt = post["logit_top"].sel(group=label).to_numpy()[..., None]
        lb = lt + np.exp(post["log_span"].sel(group=label).to_numpy()[..., None])
        e, h, f = (post[n].sel(group=label).to_numpy()[..., None] for n in ("log_e", "hill", "hormesis"))
        u = np.exp(grid[None, None, :] - e)
        expected = expit(lb + (lt - lb) * (1 + f * u) / (1 + u**h))
        np.testing.assert_allclose(curves.isel(group=j).to_numpy(), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(curves.isel(dose=0).to_numpy(), params["top"][..., [2, 0]], rtol=1e-9)  # controls
    new = predict_curves(model, idata, grid, new_groups=3, seed=1)
    assert ((new >= 0) & (new <= 1)).all() and np.isfinite(new).all()  # new groups' curves are probabilities too
    one = dose_response_model(data.query("group == 'c0'"), concentration="dose", response="y", curve="nec",
                              zero_is_control=True)  # fmt: skip
    one_idata = fake_posterior(one, draws=10)
    single = predict_curves(one, one_idata, grid)
    assert list(single["group"].values) == ["curve"] and single.shape == (1, 10, 1, 4)
    with pytest.raises(ValueError, match="a one-curve model has none"):
        predict_curves(one, one_idata, grid, new_groups=1)


def test_a_quantile_beyond_the_last_finite_draw_is_infinite():
    from recipes_utils.dose_response.ecx import _quantiles

    draws = np.concatenate([np.ones(97), np.full(3, np.inf)])
    q = _quantiles(draws, [0.5, 0.96, 0.97, 0.99])
    assert q[0] == 1.0 and q[1] == 1.0  # 0.96: position 95.04 of 99, between two draws of 1
    assert np.isposinf(q[2]) and np.isposinf(q[3])  # 0.97: between the last 1 and the first inf (was 3e298)
    both = np.stack([draws, np.linspace(1, 2, 100)])  # quantiles per row, NaN draws left out
    np.testing.assert_array_equal(_quantiles(both, [0.98])[0], [np.inf, np.quantile(np.linspace(1, 2, 100), 0.98)])
    assert np.isposinf(_quantiles(np.full(5, np.inf), [0.5])).all()
    with np.errstate(divide="ignore"):
        assert _quantiles(np.array([1.0, 2.0, np.nan]), [0.5])[0] == 1.5


def hand_ecx(top, bottom, log_ec50, hill, target):
    """The 4PL's ECx for a target response level, per draw: inf beyond the high-dose limit, 0 on the control's side,
    NaN where the target is NaN."""
    s = (target - bottom) / (top - bottom)
    inside = (s > 0) & (s < 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ec = np.exp(log_ec50 + np.log((1 - s) / s) / hill)
    return np.where(np.isnan(s), np.nan, np.where(inside, ec, np.where(s <= 0, np.inf, 0.0)))


def test_control_and_extra_risk_ecx_are_their_closed_forms():
    data = design()
    normal = hierarchical_dose_response(data, concentration="dose", response="y", zero_is_control=True)
    idata = fake_posterior(normal, draws=300)
    post = idata.posterior
    draws = ecx_draws(normal, idata, x=(10, 50), kind="control")
    for group in ("c0", "c1"):
        top, bottom = flat(post, "top", group), flat(post, "bottom", group)
        e, h = flat(post, "log_ec50", group), flat(post, "hill", group)
        for x in (10, 50):
            q = x / 100
            target = np.where(top > 0, np.where(bottom > top, top * (1 + q), top * (1 - q)), np.nan)
            expected = hand_ecx(top, bottom, e, h, target)
            got = draws.sel(group=group, effect=x).to_numpy().ravel()
            np.testing.assert_allclose(got, expected, rtol=1e-9)
            # every branch is exercised: falling and rising draws, ECx reached and never reached, top <= 0
            assert np.isfinite(expected).any() and np.isposinf(expected).any() and np.isnan(expected).any()
            assert (bottom > top).any() and (bottom < top).any()
    table = ecx_table(normal, idata, x=10, kind="control")
    assert table["kind"].eq("control").all() and table["x"].eq(10).all()
    with pytest.raises(ValueError, match="kind='extra_risk' is for a probability"):
        ecx_table(normal, idata, kind="extra_risk")

    binomial = hierarchical_dose_response(data, concentration="dose", response="dead", trials="total",
                                          likelihood="binomial", zero_is_control=True)  # fmt: skip
    idata = fake_posterior(binomial, draws=300)
    post = idata.posterior
    draws = ecx_draws(binomial, idata, x=10, kind="extra_risk")
    for group in ("c0", "c2"):
        p0, bottom = flat(post, "top", group), flat(post, "bottom", group)
        e, h = flat(post, "log_ec50", group), flat(post, "hill", group)
        rising = bottom > p0
        # rising mortality: (P(d) - p0) / (1 - p0) = 0.1; falling survival: (p0 - P(d)) / p0 = 0.1
        target = np.where(rising, p0 + 0.1 * (1 - p0), 0.9 * p0)
        expected = hand_ecx(p0, bottom, e, h, target)
        np.testing.assert_allclose(draws.sel(group=group, effect=10).to_numpy().ravel(), expected, rtol=1e-9)
        assert rising.any() and (~rising).any() and np.isfinite(expected).any()
        # extra risk is not the relative ECx: the curve at it is p0 + 0.1 (1 - p0), not p0 + 0.1 (bottom - p0)
        relative = ecx_draws(binomial, idata, x=10).sel(group=group, effect=10).to_numpy().ravel()
        assert not np.allclose(relative, expected)


def test_the_averaged_table_says_which_ecx_it_averages():
    from types import SimpleNamespace

    from recipes_utils.dose_response import CurveComparison

    data = design().query("group == 'c1'")
    models, fits = {}, {}
    for k, curve in enumerate(("ll4", "w1")):
        models[curve] = dose_response_model(data, concentration="dose", response="y", curve=curve,
                                            zero_is_control=True)  # fmt: skip
        fits[curve] = SimpleNamespace(idata=fake_posterior(models[curve], draws=100, seed=k))
    table = pd.DataFrame({"weight": [0.75, 0.25]}, index=["ll4", "w1"])
    comparison = CurveComparison(models, fits, {}, table, pd.DataFrame())
    averaged = comparison.ecx_table(x=50, kind="control")
    assert averaged.attrs["kind"] == "control" and "note" not in averaged.attrs
    assert averaged["kind"].eq("control").all() and list(averaged["curve"]) == ["ll4", "w1", "stacked"]
    stacked = comparison.ecx_draws(x=50, kind="control").to_numpy().ravel()
    per_family = {c: ecx_draws(models[c], fits[c].idata, x=50, kind="control").to_numpy().ravel() for c in models}
    # 75 draws of ll4, then 25 of w1 (NaN: a prior draw with top <= 0, which has no ECx of this kind)
    assert len(stacked) == 100 and (np.isin(stacked[:75], per_family["ll4"]) | np.isnan(stacked[:75])).all()
    assert (np.isin(stacked[75:], per_family["w1"]) | np.isnan(stacked[75:])).all()
    relative = comparison.ecx_table(x=50)
    assert relative.attrs["kind"] == "relative" and "each family's own lower limit" in relative.attrs["note"]
