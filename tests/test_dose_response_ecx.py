"""ECx tables and potency ratios: against closed forms computed from the posterior draws by hand, and the curve at
each ECx against its target level (families whose ECx has no closed form, link-scale curves)."""

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy.special import logit

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
    assert ratio.shape == (1, 9) and ratio.loc[0, "a"] == "c0" and ratio.attrs["prob"] == 0.8
    assert ratio.loc[0, "ratio"] == pytest.approx(np.median(a / b), rel=1e-6)
    assert ratio.loc[0, "ratio_upper"] == pytest.approx(np.quantile(a / b, 0.9), rel=1e-6)
    assert ratio.loc[0, "p_a_below_b"] == pytest.approx(np.mean(a < b))
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
    with pytest.raises(ValueError, match="kind must be 'relative' or 'absolute'"):
        ecx_table(model, idata, kind="direct")
    with pytest.raises(ValueError, match="prob must lie in"):
        ecx_table(model, idata, prob=94)


def test_predict_curves_follow_the_family_and_the_likelihood():
    from recipes_utils.dose_response import predict_curves

    data = design()
    model = hierarchical_dose_response(data, concentration="dose", response="dead", trials="total", curve="bc5",
                                       likelihood="binomial", zero_is_control=True)  # fmt: skip
    spec = model_spec(model)
    idata = fake_posterior(model, draws=30)
    grid = np.array([-np.inf, np.log(0.5), np.log(5.0), np.log(50.0)])
    curves = predict_curves(model, idata, grid, groups=["c2", "c0"])
    params = curve_parameter_draws(model, idata)
    on_scale = link_level_draws(model, idata)
    for j, label in ((0, 2), (1, 0)):
        expected = spec.mean(grid[None, None, :], {k: v[..., label, None] for k, v in params.items()},
                             {k: v[..., label, None] for k, v in on_scale.items()})  # fmt: skip
        np.testing.assert_allclose(curves.isel(group=j).to_numpy(), expected, rtol=1e-6, atol=1e-12)
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
