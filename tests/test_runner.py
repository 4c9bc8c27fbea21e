"""The notebook runner behind `make run`: executes, renders, reports, fails loudly, and says what it is doing."""

import io
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
    # started longest stored run first, each start and end on its own line, then the table in the order given
    assert out.index("start     b.ipynb (last stored full-scale run 60 s)") < out.index("start     a.ipynb")
    assert len([ln for ln in out.splitlines() if ln.startswith(("done 1/2  ", "done 2/2  "))]) == 2
    table = out[out.index("notebook  wall time") :]
    assert table.index("a.ipynb") < table.index("b.ipynb") and table.count(" ok") == 2
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


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def result(path, seconds=3.0, ok=True):
    return runner.Result(notebook=path, seconds=seconds, ok=ok, title="T", failed_cell=None if ok else 2, error="E: x")


def test_progress_prints_each_start_and_end_with_done_of_total_and_the_stored_time(tmp_path):
    slow = write_nb(tmp_path / "slow.ipynb", "print(1)")
    nb = nbformat.read(slow, 4)
    nb.metadata["recipe"] = {"run_time_s": 300.0}
    nbformat.write(nb, slow)
    new = write_nb(tmp_path / "new.ipynb", "print(1)")
    out = io.StringIO()  # not a terminal: lines only, no bar
    progress = runner.Progress([slow, new], scale="full", jobs=2, stream=out, heartbeat_s=0.0)
    progress.started(slow)
    progress.started(new)
    progress.cell(slow, 2, 5)
    progress.cell(new, 1, 1)
    progress.tick()  # no terminal: a "still running" line naming both, with the cell and the stored time
    progress.finished(result(slow, 250.0))
    progress.finished(result(new, 4.0, ok=False))
    progress.tick()  # nothing running: no line
    progress.close()
    lines = out.getvalue().splitlines()
    assert (
        lines[0]
        == "Executing 2 notebooks at full scale, 2 at a time; their last stored full-scale runs took 5.0 min in all."
    )
    assert lines[1] == "start     slow.ipynb (last stored full-scale run 5.0 min)"
    assert lines[2] == "start     new.ipynb (no stored run time)"
    assert "running: slow (cell 3 of 5, 0 s of 5.0 min), new (rendering, 0 s)" in lines[3]
    assert lines[4].startswith("done 1/2  slow.ipynb in 4.2 min (last stored full-scale run 5.0 min): ok; ")
    assert lines[5].startswith("done 2/2  new.ipynb in 4 s (no stored run time): FAILED in cell 2: E: x; ")
    assert lines[6].startswith("2 of 2 done in ") and len(lines) == 7
    assert "\r" not in out.getvalue() and "|" not in out.getvalue()  # no bar drawn into a log


def test_progress_draws_a_bar_of_recipes_only_on_a_terminal(tmp_path):
    paths = [write_nb(tmp_path / f"{n}.ipynb", "print(1)") for n in "ab"]
    term = FakeTerminal()
    progress = runner.Progress(paths, scale="smoke", jobs=1, stream=term, heartbeat_s=0.0)
    progress.started(paths[0])
    progress.tick()
    progress.finished(result(paths[0]))
    progress.close()
    text = term.getvalue()
    assert "0/2 recipes |" in text and "1/2 recipes |" in text and "running: a (0 s)" in text
    assert "start     a.ipynb" in text and "done 1/2  a.ipynb" in text
    assert "since the start; running" not in text  # the bar shows what runs: no heartbeat lines


def test_kernel_stderr_filter_drops_only_the_tcp_warning():
    lines = [
        "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication ...\n",
        "Traceback (most recent call last):\n",
        "no newline at the end",
    ]
    assert list(runner.filter_kernel_stderr(lines, "nb")) == [
        "[nb] Traceback (most recent call last):\n",
        "[nb] no newline at the end\n",
    ]


def test_run_keeps_the_kernel_transport_warning_off_the_screen_and_says_what_it_does(tmp_path, capfd):
    nb = write_nb(tmp_path / "loud.ipynb", "import os\nos.write(2, b'written to the kernel stderr\\n')")
    build = tmp_path / "build"
    assert runner.main([str(nb), "--scale", "smoke", "--build", str(build)]) == 0
    out, err = capfd.readouterr()
    assert "without encryption" not in err and "without encryption" not in out
    assert "[loud] written to the kernel stderr" in err  # anything else the kernel says still shows, named
    lines = out.splitlines()
    assert lines[0] == "Executing 1 notebook at smoke scale."
    assert lines[1] == "start     loud.ipynb (no stored run time)"
    assert lines[2].startswith("done 1/1  loud.ipynb in ") and lines[2].split(": ")[1].startswith("ok;")
    assert lines[-1] == f"book: {build / 'index.html'}"


def test_run_names_a_notebook_that_does_not_exist(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        runner.main([str(tmp_path / "missing.ipynb"), "--scale", "smoke", "--build", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no such notebook" in err and "missing.ipynb" in err
