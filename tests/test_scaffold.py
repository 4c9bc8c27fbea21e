"""The scaffold behind `python -m recipes_utils new "Title"` and `make new`."""

import datetime as dt

import nbformat
import pytest

from recipes_utils.__main__ import main
from recipes_utils.scaffold import new_notebook, slugify


def test_slugify():
    assert slugify("Dose-response of compound X (2026)") == "dose-response-of-compound-x-2026"
    assert slugify("  Ünïcode & spaces  ") == "n-code-spaces"


def test_new_notebook_fills_title_and_date_and_clears_outputs(tmp_path):
    path = new_notebook("My EC50 analysis", notebooks_dir=tmp_path, today=dt.date(2026, 11, 22))
    assert path == tmp_path / "my-ec50-analysis.ipynb"
    nb = nbformat.read(path, 4)
    first = nb.cells[0].source.splitlines()
    assert first[0] == "# My EC50 analysis" and "2026-11-22" in first[2]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert any('save_gallery_figure(fig, "my-ec50-analysis")' in c.source for c in code)
    assert not any('save_gallery_figure(fig, "template")' in c.source for c in code)
    assert nb.metadata["recipe"]["summary"].startswith("My EC50 analysis")


def test_refuses_to_overwrite(tmp_path):
    path = new_notebook("Twice", notebooks_dir=tmp_path)
    path.write_text("mine")
    with pytest.raises(FileExistsError, match="exists already"):
        new_notebook("Twice", notebooks_dir=tmp_path)
    assert path.read_text() == "mine"


@pytest.mark.parametrize(
    ("title", "match"),
    [
        ("", "the title is empty"),
        ("   \n ", "the title is empty"),
        ("!!! ???", "no letters or digits"),
        ("x" * 101, "keep it under 100"),
    ],
)
def test_rejects_unusable_titles(tmp_path, title, match):
    with pytest.raises(ValueError, match=match):
        new_notebook(title, notebooks_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_command_line_reports_errors_without_a_traceback(tmp_path, capsys):
    assert main(["new", "A title", "--dir", str(tmp_path)]) == 0
    assert "created" in capsys.readouterr().out
    assert main(["new", "A title", "--dir", str(tmp_path)]) == 2
    assert "error: " in capsys.readouterr().err


def test_the_new_notebook_is_the_template_s_code(tmp_path):
    # The copy runs because the template runs (nbval executes it in every `make test`): its code cells are the
    # template's, cell for cell, but for the gallery image's name.
    from recipes_utils.scaffold import TEMPLATE

    path = new_notebook("Scaffold smoke test", notebooks_dir=tmp_path)
    new_code = [c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code"]
    template_code = [c.source for c in nbformat.read(TEMPLATE, 4).cells if c.cell_type == "code"]
    expected = [s.replace('save_gallery_figure(fig, "template")', 'save_gallery_figure(fig, "scaffold-smoke-test")')
                for s in template_code]  # fmt: skip
    assert new_code == expected
    assert sum(s != t for s, t in zip(new_code, template_code)) == 1
