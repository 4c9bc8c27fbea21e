"""Benchmark rows carry their provenance and accumulate; docs/benchmarks.md is what the CSVs give."""

import os
import subprocess

import pandas as pd
import pytest

from recipes_utils import measurements


def test_benchmarks_page_is_current():
    expected = measurements.render_page()
    current = measurements.PAGE.read_text(encoding="utf-8") if measurements.PAGE.exists() else ""
    assert current == expected, "docs/benchmarks.md is out of date: run make benchmarks-page"


def test_every_benchmark_script_exists_and_has_a_title():
    for entry in measurements.BENCHMARKS:
        script = measurements.REPO / entry.script
        assert script.exists(), f"{entry.csv}: no script {entry.script}"
        assert measurements.script_title(script)


def test_append_rows_stamps_provenance_and_keeps_earlier_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(measurements, "commit", lambda repo=measurements.REPO: "abc1234")
    out = tmp_path / "results" / "bench.csv"
    measurements.append_rows(pd.DataFrame({"size": [1, 2], "seconds": [0.5, 1.5]}), out)
    rows = measurements.append_rows(pd.DataFrame({"size": [1], "seconds": [0.4], "extra": ["x"]}), out)
    stored = pd.read_csv(out)
    assert stored["seconds"].tolist() == [0.5, 1.5, 0.4] and len(rows) == 3
    assert list(stored.columns) == ["size", "seconds", "date", "machine", "commit", "extra"]
    assert set(stored["commit"]) == {"abc1234"} and stored["machine"].str.endswith(" cores").all()
    assert stored["extra"].isna().tolist() == [True, True, False]


def test_a_run_that_saves_as_it_goes_replaces_its_own_earlier_save(tmp_path):
    out = tmp_path / "bench.csv"
    measurements.append_rows(pd.DataFrame({"fit": ["old"]}), out)
    previous = measurements.read_rows(out)
    rows = []
    for fit in ("a", "b"):
        rows.append({"fit": fit})
        measurements.append_rows(pd.DataFrame(rows), out, previous=previous)
    assert pd.read_csv(out)["fit"].tolist() == ["old", "a", "b"]
    with pytest.raises(ValueError, match="previous must be"):
        measurements.append_rows(pd.DataFrame(rows), out, previous="keep")
    with pytest.raises(TypeError, match="DataFrame"):
        measurements.stamp([{"fit": "a"}])


def test_commit_names_the_checkout_or_says_unknown(tmp_path):
    here = measurements.commit()
    head = subprocess.run(["git", "-C", str(measurements.REPO), "rev-parse", "--short=7", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert here in (head, f"{head}-dirty")
    assert measurements.commit(tmp_path) == "unknown"  # not a git repository


def test_commit_is_dirty_for_changed_content_not_for_a_touched_file(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, check=True)

    git("init", "-q")
    (tmp_path / "a.txt").write_text("one\n")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "one")
    head = measurements.commit(tmp_path)
    assert not head.endswith("-dirty")
    os.utime(tmp_path / "a.txt", (1, 1))  # the same content, another modification time
    assert measurements.commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("two\n")
    assert measurements.commit(tmp_path) == f"{head}-dirty"


def test_latest_rows_keeps_the_last_row_of_each_configuration_in_first_seen_order():
    rows = pd.DataFrame(
        {
            "method": ["nuts", "advi", "nuts", "advi", "nuts"],
            "seconds": [10.0, 5.0, 9.0, 4.0, 8.0],
            "date": ["2026-12-01", "2026-12-01", "2026-12-03", "2026-12-02", "2026-11-30"],
        }
    )
    latest = measurements.latest_rows(rows, ("method",))
    # nuts: the 2026-12-03 row, although a row dated earlier comes after it in the file; advi: the later date
    assert latest[["method", "seconds"]].values.tolist() == [["nuts", 9.0], ["advi", 4.0]]
    same_day = rows.assign(date="2026-12-01")
    assert measurements.latest_rows(same_day, ("method",))["seconds"].tolist() == [8.0, 4.0]  # later in the file
    with pytest.raises(KeyError, match="'backend'"):
        measurements.latest_rows(rows, ("method", "backend"), "x.csv")


def test_a_csv_without_an_entry_is_named(tmp_path):
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "new_benchmark.csv", index=False)
    with pytest.raises(ValueError, match="new_benchmark.csv"):
        measurements.render_page(results=tmp_path)


@pytest.mark.parametrize(
    "value, column, text",
    [
        (1.0108249, "max_rhat", "1.0108"),
        (12345.6, "seconds", "12,346"),
        (0.000123456, "seconds", "0.0001235"),
        (2018, "seed", "2018"),
        (400000, "n_obs", "400,000"),
        (3.0, "draws", "3"),
        (float("nan"), "x", ""),
        (True, "lsq_inside", "yes"),
        (15598.130149489, "checksum", "15598.130149489"),
        ("a " * 40, "note", ("a " * 40)[:57] + "..."),
    ],
)
def test_format_value(value, column, text):
    assert measurements.format_value(value, column) == text


def test_markdown_table_escapes_pipes_and_names_columns_in_words():
    table = measurements.markdown_table(pd.DataFrame({"n_obs": [1000], "note": ["a|b"]}))
    assert table.splitlines() == ["| n obs | note |", "|---|---|", "| 1,000 | a\\|b |"]
