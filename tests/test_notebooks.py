"""Conventions every committed recipe follows (nbval executes them; this checks what is stored)."""

import json
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_executed_and_clean(path):
    nb = nbformat.read(path, 4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "not stored executed top to bottom in one kernel"
    text = json.dumps(nb)
    assert not re.search(r"/(work|tmp|root|home)/[A-Za-z0-9_.-]+", text), "a machine path is stored"
    for c in code:
        for out in c.outputs:
            assert out.output_type != "error", f"stored error in cell: {c.source[:60]!r}"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "config" in params[0].source, "one `parameters` cell reading recipes_utils.config"
    assert "%watermark" in code[-1].source, "ends with a watermark cell"
