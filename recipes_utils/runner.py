"""Execute every recipe and render the book: what ``make run`` calls.

``python -m recipes_utils.runner [--scale full|smoke] [--write-back] [NOTEBOOK ...]``

For each notebook (all of ``notebooks/*.ipynb`` by default) it starts a fresh kernel with
``RECIPES_SCALE`` set, executes the cells top to bottom with a progress bar, writes the executed copy
to ``build/<scale>/executed/`` and an HTML page to ``build/<scale>/``, then writes
``build/index.html`` linking the pages and prints a table of notebook, wall time and status. A
failing notebook makes the exit status non-zero and the table names the failing cell.
``--write-back`` (used by ``make notebooks``) also stores each successfully executed notebook over
its source, which is how the committed outputs are produced.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm.auto import tqdm

from recipes_utils import config

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """The outcome of executing one notebook."""

    notebook: Path
    seconds: float
    ok: bool
    title: str
    failed_cell: int | None = None  # 1-based position among all cells
    error: str = ""
    html: Path | None = None

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return f"FAILED in cell {self.failed_cell}: {self.error}"


def notebook_title(nb) -> str:
    """The first Markdown heading of a notebook, or an empty string."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def execute_notebook(path: Path, out_dir: Path, scale: str, timeout: int = 1800, write_back: bool = False) -> Result:
    """Execute one notebook in a fresh kernel at ``scale`` and render it to HTML in ``out_dir``."""
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    title = notebook_title(nb) or path.stem
    # The kernel inherits this process's environment: that is how the notebook learns the scale.
    os.environ[config.ENV_VAR] = scale
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    failed_cell, error = None, ""
    start = time.perf_counter()
    code_cells = sum(c.cell_type == "code" for c in nb.cells)
    with client.setup_kernel():
        bar = tqdm(total=code_cells, desc=path.stem, unit="cell", file=sys.stderr, leave=True)
        try:
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
                    failed_cell = index + 1
                    ename = getattr(exc, "ename", type(exc).__name__)
                    evalue = str(getattr(exc, "evalue", "") or "").strip().splitlines()
                    error = f"{ename}: {evalue[0] if evalue else ''}".strip()
                    break
                bar.update(1)
        finally:
            bar.close()
    seconds = time.perf_counter() - start
    ok = failed_cell is None

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "executed").mkdir(exist_ok=True)
    nbformat.write(nb, out_dir / "executed" / path.name)
    if ok and write_back:
        nbformat.write(nb, path)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb, resources={"metadata": {"name": title}})
    page = out_dir / f"{path.stem}.html"
    page.write_text(body, encoding="utf-8")
    return Result(path, seconds, ok, title, failed_cell, error, page)


def write_index(results: list[Result], build: Path, scale: str) -> Path:
    """Write ``build/index.html``: one row per notebook with a link, wall time and status."""
    rows = []
    for r in results:
        link = os.path.relpath(r.html, build) if r.html else ""
        rows.append(
            f"<tr><td><a href='{html.escape(link)}'>{html.escape(r.title)}</a></td>"
            f"<td><code>{html.escape(r.notebook.name)}</code></td>"
            f"<td>{r.seconds:.0f} s</td><td class='{'ok' if r.ok else 'fail'}'>{html.escape(r.status)}</td></tr>"
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bayesian Analysis Recipes</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border-bottom: 1px solid #ddd; padding: .4rem; text-align: left; }}
.ok {{ color: #1a7f37; }} .fail {{ color: #cf222e; }}
</style></head><body>
<h1>Bayesian Analysis Recipes</h1>
<p>Executed at scale <code>{html.escape(scale)}</code> on {time.strftime("%Y-%m-%d %H:%M")}.</p>
<table><thead><tr><th>Recipe</th><th>Notebook</th><th>Wall time</th><th>Status</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
    build.mkdir(parents=True, exist_ok=True)
    index = build / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def format_table(results: list[Result]) -> str:
    """The plain-text summary table printed at the end of a run."""
    rows = [(r.notebook.name, f"{r.seconds:.1f} s", r.status) for r in results]
    headers = ("notebook", "wall time", "status")
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--scale", default=None, help="full or smoke (default: $RECIPES_SCALE or full)")
    parser.add_argument("--build", type=Path, default=REPO / "build", help="output folder")
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    parser.add_argument("--write-back", action="store_true", help="store executed outputs in the sources")
    args = parser.parse_args(argv)

    if args.scale is not None:
        os.environ[config.ENV_VAR] = args.scale
    scale = config.get_scale()  # validates
    notebooks = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    if not notebooks:
        print("no notebooks found", file=sys.stderr)
        return 2
    if args.write_back and scale != "full":
        parser.error("--write-back stores outputs readers see: run it at full scale only")

    results = []
    for path in notebooks:
        results.append(execute_notebook(Path(path).resolve(), args.build / scale, scale, args.timeout, args.write_back))
    index = write_index(results, args.build, scale)
    print()
    print(format_table(results))
    print(f"\nbook: {index}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
