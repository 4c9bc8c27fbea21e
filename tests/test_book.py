import math

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from recipes_utils.book import MIME, collect, headline


def test_headline_formats_and_returns_the_record():
    assert headline("accuracy", 0.72218, "{:.1%}", band=0.005) == {
        "label": "accuracy",
        "value": 0.72218,
        "text": "72.2%",
        "timing": False,
        "tolerance": 0.005,
        "shown": "72.2% (reruns within ± 0.5%)",
    }
    assert headline("interval", "[2.70, 3.45] mM")["text"] == "[2.70, 3.45] mM"
    assert headline("n", 3, band=0)["value"] == 3
    assert headline("wall time", 12.5, "{:.0f} s", timing=True)["shown"] == "12 s"


def test_headline_tolerances():
    rec = headline("EC50", 3.0786, "{:.2f} mM", mcse=0.0031)
    assert rec["mcse"] == 0.0031 and rec["tolerance"] == pytest.approx(4 * 0.0031)
    assert rec["shown"] == "3.08 mM ± 0.003 mM (MCSE)"  # the MCSE gets the digits it needs
    assert headline("k", 12.3, "{:.1f}", band=0)["shown"] == "12.3"
    assert headline("groups", 26, "{}", band=2)["shown"] == "26 (reruns within ± 2)"
    assert headline("share", 0.94, "{:.0%}", band=0.004)["shown"] == "94% (reruns within ± 0.4%)"


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("", 1.0), ValueError, "label must be a non-empty string"),
        (("x", math.nan), ValueError, "value must be finite"),
        (("x", [1, 2]), TypeError, "value must be a number or a string, got list"),
        (("x", True), TypeError, "got bool"),
        (("x", 1.0, "{:d}"), ValueError, "cannot format"),
        (("x", 1.0), ValueError, "give its tolerance, mcse= .* or band="),
    ],
)
def test_headline_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        headline(*args)


def test_collect_reads_records_in_order_and_ignores_other_outputs():
    cell1 = new_code_cell(
        "x",
        outputs=[
            new_output("stream", name="stdout", text="hello\n"),
            new_output("display_data", data={MIME: {"label": "a", "value": 1}, "text/plain": "a: 1"}),
        ],
    )
    cell2 = new_code_cell(
        "y", outputs=[new_output("display_data", data={MIME: {"label": "b", "value": 2}, "text/plain": "b: 2"})]
    )
    nb = new_notebook(cells=[cell1, cell2])
    nb = nbformat.from_dict(nb)
    assert [r["label"] for r in collect(nb)] == ["a", "b"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"value": 1.0, "mcse": 0.1, "band": 0.1}, "exactly one of them"),
        ({"value": 1.0, "mcse": -0.1}, "mcse must be a finite number >= 0"),
        ({"value": 1.0, "band": math.inf}, "band must be a finite number >= 0"),
        ({"value": "[1, 2]", "band": 0.1}, "a string .* takes no band"),
        ({"value": 3.0, "timing": True, "mcse": 0.1}, "a wall time takes no mcse"),
    ],
)
def test_headline_rejects_bad_tolerances(kwargs, match):
    with pytest.raises(ValueError, match=match):
        headline("x", **kwargs)
