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


def _png_size(b64: str) -> tuple[int, int]:
    import base64
    import struct

    raw = base64.b64decode(b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", raw[16:24])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_recipe_metadata_and_headlines(path):
    from recipes_utils.book import collect

    nb = nbformat.read(path, 4)
    meta = nb.metadata.get("recipe", {})
    assert meta.get("level") in {"beginner", "intermediate", "advanced"}, "metadata.recipe.level"
    assert isinstance(meta.get("order"), int) and len(meta.get("summary", "")) > 20, "metadata.recipe order/summary"
    assert "Level: " + meta["level"] in nb.cells[0].source, "the level in the metadata and the first cell differ"
    assert collect(nb), "the executed notebook records no headline figures (recipes_utils.book.headline)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_small(path):
    # Figures at a sensible dpi keep the notebooks readable on GitHub and the repository small.
    assert path.stat().st_size < 2_500_000, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB"
    nb = nbformat.read(path, 4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            png = out.get("data", {}).get("image/png")
            if png:
                width, height = _png_size(png)
                assert width <= 1400 and height <= 1400, f"a {width}x{height} figure in {cell.source[:50]!r}"
                assert len(png) < 400_000, f"a {len(png) / 1e3:.0f} kB figure in {cell.source[:50]!r}"


README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_run_time_is_quoted_from_one_measurement(path):
    # `make notebooks` stores the full run's wall time in the metadata and rewrites both quotes of it from there.
    from recipes_utils.runner import format_run_time, run_time_phrase

    nb = nbformat.read(path, 4)
    seconds = nb.metadata.get("recipe", {}).get("run_time_s")
    assert isinstance(seconds, int | float), "no recipe.run_time_s: re-run `make notebooks`"
    assert run_time_phrase(seconds) in nb.cells[0].source, "the header's run time is not the measured one"
    rows = [ln for ln in README.splitlines() if ln.startswith("|") and f"(notebooks/{path.name})" in ln]
    assert rows, f"README's 'Where to start' table has no row for {path.name}"
    assert rows[0].rstrip("| ").endswith(format_run_time(seconds)), "the README's run time is not the measured one"


NOISE = [
    (re.compile(r" at 0x[0-9a-f]{6,}"), "an object repr with a memory address (end the plotting line with ';')"),
    (re.compile(r"^(array\(\[)?\[?<(Axes|matplotlib)"), "a matplotlib object repr (end the plotting line with ';')"),
    (re.compile(r"Interrupted at [\d,]+ \["), "PyMC's 'Interrupted at ...' line, which reads as a failure"),
    (re.compile(r"^Sampling: \["), "PyMC's 'Sampling: [...]' note (quiet it: logging.getLogger('pymc'))"),
    (re.compile(r"Finished \[100%\]"), "PyMC's 'Finished [100%]' note after an ADVI fit"),
    (re.compile(r"ELBO converged at"), "a stopping rule's message logged by pm.fit"),
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_carry_no_noise(path):
    nb = nbformat.read(path, 4)
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts = [out.get("text", "")] + [out.get("data", {}).get("text/plain", "")]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                for pattern, what in NOISE:
                    if pattern.search(text) or any(pattern.search(line) for line in text.splitlines()):
                        found.append(f"{what}: {text.strip()[:80]!r} in cell {cell.source[:40]!r}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nothing_stored_on_stderr(path):
    # GitHub shows a cell's stderr on red, so a stored note there reads as an error: silence notes at their source.
    nb = nbformat.read(path, 4)
    found = [
        f"{''.join(out.get('text', ''))[:80]!r} in cell {cell.source[:40]!r}"
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stderr"
    ]
    assert not found, "stored stderr output:\n" + "\n".join(found)
