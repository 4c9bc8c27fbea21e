"""One-curve functions take a table with column names, as hierarchical_four_pl does, or two arrays as before."""

import numpy as np
import pandas as pd
import pytest

from recipes_utils.dose_response import (
    default_curve_priors,
    four_pl_model,
    hierarchical_four_pl,
    least_squares_four_pl,
    one_curve_arrays,
    prepare_grouped,
)
from recipes_utils.models import four_pl

ALGEBRA = "FAST_COMPILE"  # graph values, not a backend (see tests/test_dose_response.py)


def one_curve(with_controls=False, seed=1):
    rng = np.random.default_rng(seed)
    doses = [0.5, 1, 2, 4, 8, 16, 32] if not with_controls else [0, 0.5, 1, 2, 4, 8, 16, 32]
    conc = np.repeat(doses, 3).astype(float)
    with np.errstate(divide="ignore"):
        y = four_pl(np.log(conc), 5, 100, np.log(4), 1.5) + rng.normal(0, 3, len(conc))
    # extra columns, in an order that is not (dose, response), which the table form must ignore
    return pd.DataFrame({"plate": 1, "y": y, "dose": conc, "note": "x"}), conc, y


def logp_values(model, n=3):
    fn = model.compile_logp(mode=ALGEBRA)
    ip = model.initial_point()
    rng = np.random.default_rng(0)
    points = [{k: v + rng.normal(0, 0.3, size=np.shape(v)) for k, v in ip.items()} for _ in range(n)]
    return np.array([fn(p) for p in points])


def test_a_table_gives_the_same_model_and_fit_as_the_arrays():
    table, conc, y = one_curve()
    from_table = four_pl_model(table, concentration="dose", response="y")
    from_arrays = four_pl_model(conc, y)
    assert from_table.initial_point().keys() == from_arrays.initial_point().keys()
    np.testing.assert_array_equal(logp_values(from_table), logp_values(from_arrays))
    np.testing.assert_array_equal(from_table["log_conc"].get_value(), np.log(conc))
    # a wrong pairing of the columns would give another density: check that the comparison can tell
    swapped = four_pl_model(conc[::-1], y)
    assert not np.allclose(logp_values(swapped), logp_values(from_arrays))
    lsq_table = least_squares_four_pl(table, concentration="dose", response="y")
    pd.testing.assert_frame_equal(lsq_table, least_squares_four_pl(conc, y))
    assert lsq_table.loc["log_ec50", "estimate"] == pytest.approx(np.log(4), abs=0.2)
    assert default_curve_priors(table, concentration="dose", response="y") == default_curve_priors(conc, y)


def test_default_column_names_log_doses_and_controls_follow_the_many_curve_rules():
    table, conc, y = one_curve(with_controls=True)
    renamed = table.rename(columns={"dose": "concentration", "y": "response"})
    np.testing.assert_array_equal(logp_values(four_pl_model(renamed, zero_is_control=True)),
                                  logp_values(four_pl_model(conc, y)))  # fmt: skip
    # zeros are untreated controls only when the table says so, as prepare_grouped requires
    with pytest.raises(ValueError, match="'dose' has 3 zero concentration.*zero_is_control=True"):
        four_pl_model(table, concentration="dose", response="y")
    dosed = table[table["dose"] > 0].assign(log_dose=lambda d: np.log(d["dose"]))
    got = least_squares_four_pl(dosed, log_concentration="log_dose", response="y")
    want = least_squares_four_pl(dosed["dose"], dosed["y"])
    np.testing.assert_allclose(got["estimate"], want["estimate"], rtol=1e-6)


def test_the_old_array_calls_keep_working_positional_and_by_keyword():
    table, conc, y = one_curve()
    by_keyword = four_pl_model(concentration=conc, response=y)
    np.testing.assert_array_equal(logp_values(by_keyword), logp_values(four_pl_model(conc, y)))
    series = least_squares_four_pl(table["dose"], table["y"])  # pandas Series are arrays (the drc sweep's call)
    pd.testing.assert_frame_equal(series, least_squares_four_pl(concentration=conc, response=y))


@pytest.mark.parametrize("call", [four_pl_model, least_squares_four_pl, default_curve_priors], ids=lambda f: f.__name__)
def test_bad_one_curve_input_gets_an_error_that_says_what_is_wrong(call):
    table, conc, y = one_curve()
    cases = [
        ((table,), {"concentration": "conc", "response": "y"}, ValueError, r"lacks column\(s\) \['conc'\].*'dose'"),
        ((table,), {"concentration": "dose"}, ValueError, r"lacks column\(s\) \['response'\]"),
        ((table.rename(columns={"note": "y"}),), {"concentration": "dose", "response": "y"}, ValueError,
         r"more than one column named \['y'\]"),
        ((table,), {"concentration": "dose", "response": "dose"}, ValueError, "one column cannot play two roles"),
        ((table,), {"concentration": "dose", "log_concentration": "dose", "response": "y"}, ValueError, "not both"),
        ((table,), {"concentration": conc, "response": "y"}, TypeError, "give the dose as a column name"),
        ((table, y), {"concentration": "dose"}, TypeError, "give the response as a column name"),
        ((table.assign(y=table["y"].astype(object).where(table.index != 4, "n/a")),),
         {"concentration": "dose", "response": "y"}, ValueError, r"'y' must be numeric.*positions \[4\]: \['n/a'\]"),
        ((conc[:-1], y), {}, ValueError, r"1-D of the same length, got shapes \(20,\) and \(21,\)"),
        ((conc,), {}, TypeError, "the responses are missing"),
        ((conc, "y"), {}, TypeError, "response is a column name .* data is not a DataFrame"),
        ((conc, y), {"concentration": "dose"}, TypeError, "concentration= names a column of a table"),
        ((conc, y), {"log_concentration": "dose"}, TypeError, "log_concentration= names a column of a table"),
        (({"dose": conc, "y": y},), {"concentration": "dose", "response": "y"}, TypeError, "must be a pandas DataFrame"),
        ((), {}, TypeError, "give a table"),
    ]  # fmt: skip
    for args, kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            call(*args, **kwargs)


def test_the_many_curve_table_checks_refuse_one_column_in_two_roles():
    table, _, _ = one_curve()
    table = table.assign(compound=np.repeat(["a", "b", "c"], 7))
    with pytest.raises(ValueError, match=r"group, dose, response must be different columns"):
        prepare_grouped(table, group="dose", concentration="dose", response="y")
    with pytest.raises(ValueError, match="one column cannot play two roles"):
        hierarchical_four_pl(table, group="compound", concentration="y", response="y")
    assert len(prepare_grouped(table, group="compound", concentration="dose", response="y").groups) == 3


def test_one_curve_arrays_returns_the_table_columns_as_floats():
    table, conc, y = one_curve(with_controls=True)
    got_conc, got_y = one_curve_arrays(table, "y", concentration="dose", zero_is_control=True)
    assert got_conc.dtype == float and got_y.dtype == float
    np.testing.assert_array_equal(got_conc, conc)
    np.testing.assert_array_equal(got_y, y)
