"""Execute every recipe and render the book: what ``make run`` calls.

``python -m recipes_utils.runner [--scale full|smoke] [--write-back] [NOTEBOOK ...]``

For each notebook (all of ``notebooks/*.ipynb`` by default) it starts a fresh kernel with
``RECIPES_SCALE`` set, executes the cells top to bottom with a progress bar, writes the executed copy
to ``build/<scale>/executed/`` with its headline figures beside it (``<name>.headlines.json``, from
:mod:`recipes_utils.book`) and an HTML page with a table of contents to ``build/<scale>/``, then writes
``build/index.html``, a gallery of the recipes (thumbnail, level, summary, headline figures, run time) that
opens from disk, and prints a table of notebook, wall time and status. A failing notebook makes the exit
status non-zero and the table names the failing cell.
``--jobs N`` (``make run`` passes ``JOBS``, 2 by default) executes N notebooks at a time, each in its own process and
kernel, the longest stored run first, with one OpenBLAS thread per kernel unless ``OPENBLAS_NUM_THREADS`` is set; a
notebook's wall time then includes waiting for a core, so ``--write-back`` takes one job only.
``--write-back`` (used by ``make notebooks``) also stores each successfully executed notebook over
its source, which is how the committed outputs are produced, and records the run's wall time in one place: the
notebook's ``recipe.run_time_s`` metadata, from which the "Run time: ..." of its first cell and its row of the
README's "Where to start" table are rewritten (:func:`record_run_time`), so the two cannot drift apart.

Kernels run with ``RECIPES_PROGRESS=0``: progress bars are for people watching a fit, never for stored outputs.

While it works the runner says what it is doing (:class:`Progress`, from :mod:`recipes_utils.run_progress`, on
stdout). It prints a line when each recipe starts and one when it ends: done of total, its wall time, its last stored
full-scale run time, the time since the start. With a terminal attached a progress bar shows the recipes done and those
running; without one (a log, CI) a line a minute names what is still running. The book's path comes last. Only the
main process writes these lines, so two notebooks at a time do not interleave them. The runner reads each kernel's
stderr (:func:`relay_kernel_stderr`): it drops ipykernel's warning that the kernel talks over TCP without encryption (a
local kernel, on localhost) and passes anything else on, prefixed with the notebook's name.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import html
import json
import multiprocessing
import os
import queue
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm.auto import tqdm

from recipes_utils import book, config
from recipes_utils.config import REPO
from recipes_utils.inference import PROGRESS_ENV

# What the runner shows while it works, re-exported: every name importable from here before it had its own module
from recipes_utils.run_progress import HEARTBEAT_S, Progress, _Ticker, format_run_time, stored_run_time  # noqa: F401

#: The line ipykernel logs on its stderr at start-up when it listens on TCP without CurveZMQ keys, as every local
#: kernel nbclient starts does ("[IPKernelApp] WARNING | Kernel is running over TCP without encryption. ..."): true
#: of a kernel on localhost, and nothing a reader of ``make run`` can act on, so the runner drops it.
KERNEL_TCP_WARNING = "Kernel is running over TCP without encryption"


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
    headlines: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # the notebook's "recipe" metadata: order, level, summary

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


def filter_kernel_stderr(lines: Iterable[str], name: str) -> Iterator[str]:
    """The lines of a kernel's stderr worth showing, each prefixed with ``[name]``: all but ipykernel's TCP warning."""
    for line in lines:
        if KERNEL_TCP_WARNING in line:
            continue
        yield f"[{name}] {line}" if line.endswith("\n") else f"[{name}] {line}\n"


def relay_kernel_stderr(read_fd: int, name: str, out: TextIO | None = None) -> threading.Thread:
    """Start a thread that reads a kernel's stderr from ``read_fd`` until it closes and writes
    :func:`filter_kernel_stderr`'s lines to ``out`` (default: this process's stderr)."""

    def relay() -> None:
        with os.fdopen(read_fd, "r", encoding="utf-8", errors="replace") as stream:
            for line in filter_kernel_stderr(stream, name):
                target = out if out is not None else sys.stderr
                target.write(line)
                target.flush()

    thread = threading.Thread(target=relay, name=f"kernel-stderr-{name}", daemon=True)
    thread.start()
    return thread


def execute_notebook(
    path: Path,
    out_dir: Path,
    scale: str,
    timeout: int = 1800,
    write_back: bool = False,
    bar: bool | None = None,
    on_cell: Callable[[int, int], None] | None = None,
) -> Result:
    """Execute one notebook in a fresh kernel at ``scale`` and render it to HTML in ``out_dir``.

    ``bar``: a progress bar of its cells on stderr (default: when stderr is a terminal). ``on_cell(done, total)`` is
    called before the first code cell and after each one, with the code cells done and their number.
    """
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    title = notebook_title(nb) or path.stem
    # The kernel inherits this process's environment: that is how the notebook learns the scale, and that
    # progress bars stay out of the stored outputs.
    os.environ[config.ENV_VAR] = scale
    os.environ[PROGRESS_ENV] = "0"
    # One OpenBLAS thread per kernel unless set: by default OpenBLAS starts a thread per core in every process, which
    # used CPU time without saving wall time (the BNN alone: 243 s of wall and 406 s of CPU time with the default, 238 s
    # and 235 s with one thread), and two kernels on 2 cores then took longer than one after another (README, "How long
    # things take")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
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
    if bar is None:
        bar = sys.stderr.isatty()
    # The kernel's stderr goes through a pipe to relay_kernel_stderr, which drops ipykernel's TCP warning.
    read_fd, write_fd = os.pipe()
    relay = relay_kernel_stderr(read_fd, path.stem)
    try:
        with client.setup_kernel(stderr=write_fd):
            os.close(write_fd)  # the kernel holds its own copy: the relay ends when the kernel's closes
            write_fd = None
            progress = tqdm(total=code_cells, desc=path.stem, unit="cell", file=sys.stderr, leave=True, disable=not bar)
            try:
                done = 0
                if on_cell is not None:
                    on_cell(done, code_cells)
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
                    progress.update(1)
                    done += 1
                    if on_cell is not None:
                        on_cell(done, code_cells)
            finally:
                progress.close()
    finally:
        if write_fd is not None:  # the kernel never started
            os.close(write_fd)
    relay.join(timeout=2)  # a process the notebook started may still hold the pipe: do not wait for it
    seconds = time.perf_counter() - start
    ok = failed_cell is None

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "executed").mkdir(exist_ok=True)
    nbformat.write(nb, out_dir / "executed" / path.name)
    if ok and write_back:
        record_run_time(nb, seconds, readme=REPO / "README.md", name=path.name)
        nbformat.write(nb, path)
    headlines = book.collect(nb)
    meta = dict(nb.metadata.get("recipe", {}))
    record = {
        "notebook": path.name,
        "title": title,
        "scale": scale,
        "ok": ok,
        "seconds": round(seconds, 1),
        "headlines": headlines,
    }
    (out_dir / "executed" / f"{path.stem}.headlines.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb, resources={"metadata": {"name": title}})
    page = out_dir / f"{path.stem}.html"
    page.write_text(add_toc(body), encoding="utf-8")
    return Result(path, seconds, ok, title, failed_cell, error, page, headlines, meta)


_RUN_TIME = re.compile(r"Run time: [^·\n]*?(?=\s*(?:·|\n|$))")


def run_time_phrase(seconds: float) -> str:
    return f"Run time: {format_run_time(seconds)} on 2 cores"


def record_run_time(nb, seconds: float, *, readme: Path | None = None, name: str | None = None) -> None:
    """Store a full-scale run's wall time in ``nb.metadata.recipe.run_time_s`` and rewrite the quotes of it.

    The first cell's ``Run time: ...`` (up to the next ``·`` or line end) becomes :func:`run_time_phrase`, and
    the README row that links ``notebooks/<name>`` gets the time in its last column. A notebook without the phrase,
    or a README without the row, is left alone there (the tests check that every recipe has both).
    """
    seconds = round(float(seconds), 1)  # the stored value is the one every quote is formatted from
    nb.metadata.setdefault("recipe", {})["run_time_s"] = seconds
    first = nb.cells[0]
    if first.cell_type == "markdown":
        first.source = _RUN_TIME.sub(run_time_phrase(seconds), first.source, count=1)
    if readme is not None and name is not None and readme.exists():
        lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.startswith("|") and f"(notebooks/{name})" in line:
                cells = line.rstrip("\n").rstrip().rstrip("|").split("|")
                cells[-1] = f" {format_run_time(seconds)} "
                lines[i] = "|".join(cells) + "|\n"
        readme.write_text("".join(lines), encoding="utf-8")


_HEADING = re.compile(r'<h([23]) id="([^"]+)">(.*?)<a class="anchor-link"', re.DOTALL)
_TOC_CSS = """<style>
nav.toc { border: 1px solid #ddd; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; background: #fafafa;
          font-family: system-ui, sans-serif; font-size: 14px; }
nav.toc ul { margin: .3rem 0; padding-left: 1.2rem; } nav.toc li.h3 { margin-left: 1.2rem; font-size: 13px; }
nav.toc a.back { float: right; }
</style>"""


def add_toc(body: str) -> str:
    """Insert a table of contents (the page's h2 and h3 headings, linked) at the top of a rendered notebook."""
    heads = _HEADING.findall(body)
    if not heads or "<main>" not in body:
        return body
    items = []
    for level, anchor, inner in heads:
        text = re.sub(r"<[^>]+>", "", inner).strip()
        items.append(f'<li class="h{level}"><a href="#{anchor}">{text}</a></li>')
    nav = (
        '<nav class="toc" id="contents"><a class="back" href="../index.html">all recipes</a>'
        f"<strong>Contents</strong><ul>{''.join(items)}</ul></nav>"
    )
    body = body.replace("<main>", "<main>\n" + nav, 1)
    return body.replace("</head>", _TOC_CSS + "\n</head>", 1)


def write_index(results: list[Result], build: Path, scale: str, jobs: int = 1) -> Path:
    """Write ``build/index.html``: a gallery card per recipe, in reading order.

    Each card has the recipe's key figure (``docs/gallery/<name>.png``, copied to ``build/gallery/``), its
    title linking the rendered page, level, one-line summary, the headline figures the executed notebook
    recorded, its wall time and status. Plain HTML and CSS with relative links: it opens from disk. With ``jobs`` > 1
    the page says that the times include waits for a core.
    """
    build.mkdir(parents=True, exist_ok=True)
    thumbs = build / "gallery"
    thumbs.mkdir(exist_ok=True)
    cards = []
    ordered = sorted(results, key=lambda r: (r.meta.get("order", 99), r.notebook.name))
    for r in ordered:
        link = html.escape(os.path.relpath(r.html, build)) if r.html else ""
        image = REPO / "docs" / "gallery" / f"{r.notebook.stem}.png"
        if image.exists():
            shutil.copyfile(image, thumbs / image.name)
            thumb = f"<a href='{link}'><img src='gallery/{html.escape(image.name)}' alt='key figure of {html.escape(r.title)}'></a>"
        else:
            thumb = "<div class='noimg'>no figure</div>"
        figures = "".join(
            f"<li>{html.escape(h['label'])}: <b>{html.escape(str(h.get('shown', h['text'])))}</b>"
            f"{' <span class=time>(this run)</span>' if h.get('timing') else ''}</li>"
            for h in r.headlines
        )
        level = html.escape(str(r.meta.get("level", "")))
        cards.append(f"""<article class="card">
{thumb}
<h2><a href='{link}'>{html.escape(r.title)}</a></h2>
<p class="meta">{f"<span class='level {level}'>{level}</span> " if level else ""}<code>{html.escape(r.notebook.name)}</code>
 &middot; {r.seconds:.0f} s &middot; <span class='{"ok" if r.ok else "fail"}'>{html.escape(r.status)}</span></p>
<p>{html.escape(str(r.meta.get("summary", "")))}</p>
{f"<ul class='figures'>{figures}</ul>" if figures else "<p class='meta'>no headline figures recorded</p>"}
</article>""")
    shared = ""
    if jobs > 1:
        shared = f" {jobs} notebooks were executed at a time, so each time below includes waits for a core: a recipe "
        shared += "run alone takes less."
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bayesian Analysis Recipes</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(21rem, 1fr)); gap: 1.2rem; }}
.card {{ border: 1px solid #d0d7de; border-radius: 8px; padding: .8rem 1rem; background: #fff; }}
.card img {{ width: 100%; height: 11rem; object-fit: contain; background: #f6f8fa; border-radius: 4px; }}
.card h2 {{ font-size: 1.05rem; margin: .6rem 0 .3rem; }} .card a {{ color: #0969da; text-decoration: none; }}
.meta {{ color: #57606a; font-size: .85rem; margin: .2rem 0; }} .figures {{ font-size: .88rem; padding-left: 1.1rem; }}
.level {{ border-radius: 1rem; padding: .05rem .5rem; font-size: .75rem; color: #fff; background: #57606a; }}
.beginner {{ background: #1a7f37; }} .intermediate {{ background: #9a6700; }} .advanced {{ background: #8250df; }}
.ok {{ color: #1a7f37; }} .fail {{ color: #cf222e; font-weight: bold; }} .time {{ color: #57606a; }}
.noimg {{ height: 11rem; display: flex; align-items: center; justify-content: center; background: #f6f8fa; }}
</style></head><body>
<h1>Bayesian Analysis Recipes</h1>
<p>Worked Bayesian analyses, each a notebook that checks its own results. Executed at scale
<code>{html.escape(scale)}</code> on {time.strftime("%Y-%m-%d %H:%M")}; the figures below are read from the executed
notebooks.{shared} Start with the first card; the order is the suggested reading order.</p>
<div class="grid">
{chr(10).join(cards)}
</div>
</body></html>
"""
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


_EVENTS = None  # in a worker process: the queue its cell counts go back on (set by _init_worker)


def _init_worker(events) -> None:
    global _EVENTS
    _EVENTS = events


def _execute_in_worker(path: Path, out_dir: Path, scale: str, timeout: int) -> Result:
    def on_cell(done: int, total: int) -> None:
        if _EVENTS is not None:
            _EVENTS.put((str(path), done, total))

    return execute_notebook(path, out_dir, scale, timeout, False, False, on_cell)


def execute_in_parallel(
    paths: list[Path], out_dir: Path, scale: str, timeout: int, jobs: int, progress: Progress | None = None
) -> list[Result]:
    """:func:`execute_notebook` for each path, ``jobs`` at a time in worker processes, the longest stored run first.
    A notebook is handed to a worker only when one is free, so ``progress`` hears of it when it starts. Results come
    back in the order of ``paths``."""
    order = sorted(paths, key=stored_run_time, reverse=True)
    results: dict[Path, Result] = {}
    context = multiprocessing.get_context("spawn")
    events = context.Queue()

    def drain() -> None:
        while True:
            try:
                name, done, total = events.get_nowait()
            except queue.Empty:
                return
            if progress is not None:
                progress.cell(Path(name), done, total)

    with concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=(events,)
    ) as pool:
        waiting, running = list(order), {}
        while waiting or running:
            while waiting and len(running) < jobs:
                path = waiting.pop(0)
                if progress is not None:
                    progress.started(path)
                running[pool.submit(_execute_in_worker, path, out_dir, scale, timeout)] = path
            finished, _ = concurrent.futures.wait(running, timeout=0.5, return_when=concurrent.futures.FIRST_COMPLETED)
            drain()
            for future in finished:
                result = future.result()
                results[running.pop(future)] = result
                if progress is not None:
                    progress.finished(result)
    events.close()
    return [results[p] for p in paths]


def execute_in_turn(
    paths: list[Path], out_dir: Path, scale: str, timeout: int, write_back: bool, progress: Progress | None = None
) -> list[Result]:
    """:func:`execute_notebook` for each path in this process, one after another, in the order given."""
    results = []
    for path in paths:
        if progress is not None:
            progress.started(path)
        on_cell = (lambda done, total, p=path: progress.cell(p, done, total)) if progress is not None else None
        result = execute_notebook(path, out_dir, scale, timeout, write_back, False, on_cell)
        if progress is not None:
            progress.finished(result)
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--scale", default=None, help="full or smoke (default: $RECIPES_SCALE or full)")
    parser.add_argument("--build", type=Path, default=REPO / "build", help="output folder")
    parser.add_argument("--timeout", type=int, default=3600, help="per-cell timeout in seconds")
    parser.add_argument("--write-back", action="store_true", help="store executed outputs in the sources")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executed at a time (default 1)")
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

    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.write_back and args.jobs > 1:
        parser.error("--write-back stores each notebook's run time: run it with --jobs 1")
    missing = [str(p) for p in notebooks if not Path(p).is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    paths = [Path(p).resolve() for p in notebooks]
    at_a_time = min(args.jobs, len(paths))
    progress = Progress(paths, scale=scale, jobs=at_a_time)
    try:
        with _Ticker(progress):
            if args.jobs == 1:
                results = execute_in_turn(paths, args.build / scale, scale, args.timeout, args.write_back, progress)
            else:
                results = execute_in_parallel(paths, args.build / scale, scale, args.timeout, args.jobs, progress)
    finally:
        progress.close()
    index = write_index(results, args.build, scale, at_a_time)
    print()
    print(format_table(results))
    if at_a_time > 1:
        print(f"({at_a_time} notebooks at a time: each wall time includes waits for a core)")
    print(f"\nbook: {index}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
