"""The notebook runner behind `make run`: executes, renders, reports, fails loudly."""

import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from recipes_utils import runner


@pytest.fixture(autouse=True)
def _keep_openblas_threads():
    """The runner sets OPENBLAS_NUM_THREADS for the kernels it starts; leave this process as it was."""
    saved = os.environ.get("OPENBLAS_NUM_THREADS")
    yield
    if saved is None:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)
    else:
        os.environ["OPENBLAS_NUM_THREADS"] = saved


def write_nb(path, *sources):
    nb = new_notebook(cells=[new_markdown_cell("# A title"), *(new_code_cell(s) for s in sources)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_run_writes_pages_index_and_fails_on_a_bad_cell(tmp_path, capsys):
    good = write_nb(tmp_path / "good.ipynb", "import os\nprint(os.environ['RECIPES_SCALE'])")
    bad = write_nb(tmp_path / "bad.ipynb", "x = 1", "raise RuntimeError('boom')", "print('never')")
    build = tmp_path / "build"
    code = runner.main([str(good), str(bad), "--scale", "smoke", "--build", str(build)])
    out = capsys.readouterr().out
    assert code == 1
    assert "good.ipynb" in out and "ok" in out
    assert "FAILED in cell 3: RuntimeError: boom" in out
    executed = nbformat.read(build / "smoke" / "executed" / "good.ipynb", 4)
    assert executed.cells[1].outputs[0]["text"].strip() == "smoke"
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"] == [1]
    index = (build / "index.html").read_text()
    assert "smoke/good.html" in index and "smoke/bad.html" in index and "FAILED in cell 3" in index
    assert "at a time" not in index and "at a time" not in out  # one notebook at a time: no contention to note
    assert (build / "smoke" / "good.html").read_text().count("A title") >= 1


def test_run_succeeds_and_write_back_is_full_scale_only(tmp_path, capsys):
    good = write_nb(tmp_path / "good.ipynb", "print(40 + 2)")
    assert runner.main([str(good), "--scale", "full", "--build", str(tmp_path / "b"), "--write-back"]) == 0
    stored = nbformat.read(good, 4)
    assert stored.cells[1].outputs[0]["text"].strip() == "42"
    try:
        runner.main([str(good), "--scale", "smoke", "--write-back"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("--write-back at smoke scale must be refused")


def test_jobs_run_notebooks_side_by_side_and_report_them_in_order(tmp_path, capsys):
    # "b" has the longer stored run time, so it is started first; the table keeps the order given. Each kernel sees one
    # OpenBLAS thread.
    paths = [write_nb(tmp_path / f"{n}.ipynb", "import os\nprint(os.environ['OPENBLAS_NUM_THREADS'])") for n in "ab"]
    nb = nbformat.read(paths[1], 4)
    nb.metadata["recipe"] = {"run_time_s": 60.0}
    nbformat.write(nb, paths[1])
    assert [p.name for p in sorted(paths, key=runner.stored_run_time, reverse=True)] == ["b.ipynb", "a.ipynb"]
    build = tmp_path / "build"
    os.environ.pop("OPENBLAS_NUM_THREADS", None)  # restored by the fixture
    assert runner.main([*map(str, paths), "--scale", "smoke", "--build", str(build), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert out.index("a.ipynb") < out.index("b.ipynb") and out.count(" ok") == 2
    # the times were contended, and the table and the book say so
    assert "(2 notebooks at a time: each wall time includes waits for a core)" in out
    assert (
        "2 notebooks were executed at a time, so each time below includes waits for a core"
        in (build / "index.html").read_text()
    )
    for name in "ab":
        executed = nbformat.read(build / "smoke" / "executed" / f"{name}.ipynb", 4)
        assert executed.cells[1].outputs[0]["text"].strip() == "1"


def test_more_jobs_than_notebooks_is_not_reported_as_contention(tmp_path, capsys):
    nb = write_nb(tmp_path / "only.ipynb", "print(1)")
    assert runner.main([str(nb), "--scale", "smoke", "--build", str(tmp_path / "b"), "--jobs", "3"]) == 0
    assert "at a time" not in capsys.readouterr().out and "at a time" not in (tmp_path / "b" / "index.html").read_text()


def test_jobs_must_be_positive_and_write_back_takes_one(tmp_path):
    good = write_nb(tmp_path / "good.ipynb", "print(1)")
    for args in (["--jobs", "0"], ["--jobs", "2", "--write-back"]):
        try:
            runner.main([str(good), "--scale", "full", "--build", str(tmp_path / "b"), *args])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{args} must be refused")


def test_format_table():
    r = runner.Result(
        notebook=runner.Path("x.ipynb"), seconds=1.234, ok=False, title="X", failed_cell=4, error="ValueError: no"
    )
    table = runner.format_table([r])
    assert table.splitlines()[0].split() == ["notebook", "wall", "time", "status"]
    row = table.splitlines()[2].split(None, 3)
    assert row[:3] == ["x.ipynb", "1.2", "s"] and row[3] == "FAILED in cell 4: ValueError: no"


def test_headlines_are_collected_written_and_shown_in_the_gallery(tmp_path):
    import json

    nb = new_notebook(
        cells=[
            new_markdown_cell("# Curves\n\n## First section\ntext\n### A subsection"),
            new_code_cell("from recipes_utils.book import headline\nheadline('EC50', 3.0712, '{:.2f} mM', mcse=0.004)"),
            new_markdown_cell("## Second section"),
            new_code_cell("headline('wall time', 12.3, '{:.0f} s', timing=True);"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["recipe"] = {"order": 1, "level": "beginner", "summary": "One curve, one EC50."}
    path = tmp_path / "curves.ipynb"
    nbformat.write(nb, path)
    build = tmp_path / "build"
    assert runner.main([str(path), "--scale", "smoke", "--build", str(build)]) == 0

    record = json.loads((build / "smoke" / "executed" / "curves.headlines.json").read_text())
    assert record["ok"] is True and record["scale"] == "smoke"
    assert [(h["label"], h["value"], h["text"], h["timing"]) for h in record["headlines"]] == [
        ("EC50", 3.0712, "3.07 mM", False),
        ("wall time", 12.3, "12 s", True),
    ]
    index = (build / "index.html").read_text()
    assert "One curve, one EC50." in index and "<b>3.07 mM ± 0.004 mM (MCSE)</b>" in index and "beginner" in index
    assert "src='http" not in index and 'src="http' not in index  # nothing fetched from the network
    page = (build / "smoke" / "curves.html").read_text()
    toc = page[page.index('<nav class="toc"') : page.index("</nav>")]
    assert toc.index("First section") < toc.index("A subsection") < toc.index("Second section")
    assert 'href="#First-section"' in toc and 'href="../index.html"' in toc


def test_add_toc_leaves_a_page_without_headings_alone():
    body = "<html><head></head><body><main><p>no headings</p></main></body></html>"
    assert runner.add_toc(body) == body


def test_record_run_time_rewrites_the_header_and_the_readme_row(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell("# T\n\nLevel: beginner · Run time: about a minute · Tags: x\n")])
    readme = tmp_path / "README.md"
    readme.write_text(
        "| recipe | level | run time (full) |\n|---|---|---|\n| [T](notebooks/t.ipynb) | beginner | 9 min |\n"
    )
    runner.record_run_time(nb, 283.4, readme=readme, name="t.ipynb")
    assert nb.metadata["recipe"]["run_time_s"] == 283.4
    assert nb.cells[0].source == "# T\n\nLevel: beginner · Run time: 4.7 min on 2 cores · Tags: x\n"
    assert readme.read_text().splitlines()[-1] == "| [T](notebooks/t.ipynb) | beginner | 4.7 min |"
    runner.record_run_time(nb, 24.2)
    assert "Run time: 24 s on 2 cores · Tags" in nb.cells[0].source


def test_kernels_run_without_progress_bars_and_with_one_openblas_thread(tmp_path):
    nb = write_nb(
        tmp_path / "p.ipynb", "import os\nprint(os.environ['RECIPES_PROGRESS'], os.environ['OPENBLAS_NUM_THREADS'])"
    )
    os.environ.pop("OPENBLAS_NUM_THREADS", None)  # restored by the fixture
    runner.main([str(nb), "--scale", "smoke", "--build", str(tmp_path / "b")])
    executed = nbformat.read(tmp_path / "b" / "smoke" / "executed" / "p.ipynb", 4)
    assert executed.cells[1].outputs[0]["text"].strip() == "0 1"
