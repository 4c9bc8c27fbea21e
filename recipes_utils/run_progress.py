"""What ``make run`` shows while it works: a line per recipe, a progress bar on a terminal (:class:`Progress`).

:class:`Progress` prints a line when each recipe starts and one when it ends: done of total, its wall time, its last
stored full-scale run time (:func:`stored_run_time`), the time since the start. With a terminal attached a progress bar
shows the recipes done and those running; without one (a log, CI) a line a minute names what is still running
(:class:`_Ticker` calls it about once a second). Times read as in headers and the README (:func:`format_run_time`).
:mod:`recipes_utils.runner` drives it and re-exports these names.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self, TextIO

import nbformat
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from recipes_utils.runner import Result

__all__ = ["HEARTBEAT_S", "Progress", "format_run_time", "stored_run_time"]

#: Seconds between the "still running" lines when no terminal is attached (a bar shows it live otherwise).
HEARTBEAT_S = 60.0


def format_run_time(seconds: float) -> str:
    """``24 s``, ``4.7 min``: how run times read in headers and the README."""
    if not seconds >= 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def stored_run_time(path: Path) -> float:
    """The notebook's last stored full-scale wall time (``recipe.run_time_s``), 0 when it has none."""
    try:
        return float(nbformat.read(path, as_version=4).metadata.get("recipe", {}).get("run_time_s", 0.0))
    except (OSError, ValueError, TypeError):
        return 0.0


class Progress:
    """What the runner shows while it works, on ``stream`` (stdout): one writer, so parallel runs stay readable.

    :meth:`started` and :meth:`finished` print a line per recipe; :meth:`cell` records how far a running one is;
    :meth:`tick` (called about once a second) refreshes the bar, or without one prints a "still running" line every
    ``heartbeat_s`` seconds. ``bar``: a tqdm bar of the recipes done, with those running after it (default: when
    ``stream`` is a terminal). Each recipe's time is shown against its last stored full-scale run
    (:func:`stored_run_time`). Safe to call from several threads.
    """

    def __init__(
        self,
        paths: list[Path],
        *,
        scale: str,
        jobs: int = 1,
        stream: TextIO | None = None,
        bar: bool | None = None,
        heartbeat_s: float = HEARTBEAT_S,
    ):
        self.stream = stream if stream is not None else sys.stdout
        self.total = len(paths)
        self.done = 0
        self.stored = {Path(p): stored_run_time(p) for p in paths}
        self.running: dict[Path, dict] = {}
        self.heartbeat_s = heartbeat_s
        self.start = self.last_beat = time.perf_counter()
        self.lock = threading.RLock()
        if bar is None:
            bar = self.stream.isatty()
        at_a_time = min(jobs, self.total)
        stored = sum(self.stored.values())
        how = f", {at_a_time} at a time" if at_a_time > 1 else ", one after another" if self.total > 1 else ""
        self.write(
            f"Executing {self.total} notebook{'s' if self.total != 1 else ''} at {scale} scale{how}"
            + (f"; their last stored full-scale runs took {format_run_time(stored)} in all." if stored else ".")
        )
        self.bar = None
        if bar:
            self.bar = tqdm(
                total=self.total,
                file=self.stream,
                unit="recipe",
                bar_format="{n_fmt}/{total_fmt} recipes |{bar:20}| {elapsed}{postfix}",
                dynamic_ncols=True,
            )

    def write(self, line: str) -> None:
        with self.lock:
            if getattr(self, "bar", None) is not None:
                self.bar.write(line, file=self.stream)
            else:
                print(line, file=self.stream, flush=True)

    def _against_stored(self, path: Path, seconds: float) -> str:
        stored = self.stored.get(path, 0.0)
        return f"{format_run_time(seconds)} of {format_run_time(stored)}" if stored else format_run_time(seconds)

    def _stored_note(self, path: Path) -> str:
        stored = self.stored.get(path, 0.0)
        return f"last stored full-scale run {format_run_time(stored)}" if stored else "no stored run time"

    def started(self, path: Path) -> None:
        path = Path(path)
        with self.lock:
            self.running[path] = {"start": time.perf_counter(), "cells": 0, "of": None}
            self.write(f"start     {path.name} ({self._stored_note(path)})")
            self._refresh()

    def cell(self, path: Path, done: int, total: int) -> None:
        with self.lock:
            state = self.running.get(Path(path))
            if state is not None:
                state["cells"], state["of"] = done, total

    def finished(self, result: Result) -> None:
        path = Path(result.notebook)
        with self.lock:
            self.running.pop(path, None)
            self.done += 1
            elapsed = format_run_time(time.perf_counter() - self.start)
            self.write(
                f"done {self.done}/{self.total}  {path.name} in {format_run_time(result.seconds)} "
                f"({self._stored_note(path)}): {result.status}; {elapsed} since the start"
            )
            if self.bar is not None:
                self.bar.update(1)
            self._refresh()

    def _running_text(self) -> str:
        now = time.perf_counter()
        parts = []
        for path, state in self.running.items():
            if not state["of"]:
                cells = ""
            elif state["cells"] < state["of"]:
                cells = f"cell {state['cells'] + 1} of {state['of']}, "
            else:
                cells = "rendering, "
            parts.append(f"{path.stem} ({cells}{self._against_stored(path, now - state['start'])})")
        return ", ".join(parts)

    def _refresh(self) -> None:
        if self.bar is not None:
            running = self._running_text()
            self.bar.set_postfix_str(f"running: {running}" if running else "", refresh=True)

    def tick(self) -> None:
        with self.lock:
            if self.bar is not None:
                self._refresh()
                return
            now = time.perf_counter()
            if self.running and now - self.last_beat >= self.heartbeat_s:
                self.last_beat = now
                self.write(f"  {format_run_time(now - self.start)} since the start; running: {self._running_text()}")

    def close(self) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            self.write(f"{self.done} of {self.total} done in {format_run_time(time.perf_counter() - self.start)}")


class _Ticker:
    """Calls ``progress.tick()`` every ``interval`` seconds in a daemon thread while the ``with`` block runs."""

    def __init__(self, progress: Progress, interval: float = 1.0):
        self.progress, self.interval = progress, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="runner-progress", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self.progress.tick()

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
