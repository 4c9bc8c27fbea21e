import math

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from recipes_utils.book import MIME, collect, headline


def test_headline_formats_and_returns_the_record():
    assert headline("accuracy", 0.72218, "{:.1%}") == {
        "label": "accuracy",
        "value": 0.72218,
        "text": "72.2%",
        "timing": False,
    }
    assert headline("HDI", "[2.70, 3.45] mM")["text"] == "[2.70, 3.45] mM"
    assert headline("n", 3)["value"] == 3


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (("", 1.0), ValueError, "label must be a non-empty string"),
        (("x", math.nan), ValueError, "value must be finite"),
        (("x", [1, 2]), TypeError, "value must be a number or a string, got list"),
        (("x", True), TypeError, "got bool"),
        (("x", 1.0, "{:d}"), ValueError, "cannot format"),
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
