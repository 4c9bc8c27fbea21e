"""pytest settings for the whole repository: the order in which ``make test`` hands files to its workers.

``make test`` runs pytest with two xdist workers, each taking whole files (``--dist loadfile``: a notebook's cells
must run in one kernel, in order). The run ends when the slower worker ends, so the files go out heaviest first
(longest-processing-time first): the light ones then fill the gaps at the end. ``tests/file_seconds.json`` holds
each file's seconds in a run with an empty PyTensor compile directory, as in CI (the sum of its tests' durations,
pytest's junit report, 2026-12-06, 2 cores). A file it does not list goes first: its cost is unknown, and a heavy
file started last would decide the run's length. ``make test`` passes ``--no-loadscope-reorder`` so that xdist keeps
this order (its default orders files by their number of tests).
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
FILE_SECONDS = ROOT / "tests" / "file_seconds.json"


def heaviest_files_first(paths: list[str], seconds: dict[str, float]) -> list[int]:
    """Indices that order items by their file: unlisted files first, then by ``seconds``, largest first; items of one
    file stay together and in their order, and ties keep the order the files were collected in."""
    first_seen: dict[str, int] = {}
    for path in paths:
        first_seen.setdefault(path, len(first_seen))

    def key(i: int):
        path = paths[i]
        return (path in seconds, -seconds.get(path, 0.0), first_seen[path], i)

    return sorted(range(len(paths)), key=key)


def repository_path(path) -> str:
    """``path`` relative to the repository, as ``tests/file_seconds.json`` names files; a path outside it stays
    absolute (and is then unlisted)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def pytest_collection_modifyitems(config, items):
    seconds = json.loads(FILE_SECONDS.read_text())
    paths = [repository_path(item.path) for item in items]
    items[:] = [items[i] for i in heaviest_files_first(paths, seconds)]
