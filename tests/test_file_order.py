"""The order in which make test hands files to its workers (conftest.py): heaviest first, unknown files before all."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
root_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(root_conftest)


def test_heaviest_files_go_first_and_each_file_stays_together_in_order():
    paths = ["a.py", "a.py", "b.ipynb", "b.ipynb", "b.ipynb", "c.py", "new.py", "d.py"]
    seconds = {"a.py": 5, "b.ipynb": 50, "c.py": 20, "d.py": 5}
    order = [paths[i] for i in root_conftest.heaviest_files_first(paths, seconds)]
    assert order == ["new.py", "b.ipynb", "b.ipynb", "b.ipynb", "c.py", "a.py", "a.py", "d.py"]
    # within a file, the collected order (a notebook's cells run top to bottom in one kernel)
    assert root_conftest.heaviest_files_first(paths, seconds)[1:4] == [2, 3, 4]


def test_the_hook_reorders_collected_items_by_the_listed_seconds(tmp_path):
    class Item:
        def __init__(self, path):
            self.path = path

    seconds = json.loads(root_conftest.FILE_SECONDS.read_text())
    light, heavy = min(seconds, key=seconds.get), max(seconds, key=seconds.get)
    outside = tmp_path / "test_elsewhere.py"  # not in the repository: unlisted, so first
    items = [Item(ROOT / light), Item(ROOT / heavy), Item(ROOT / heavy), Item(outside)]
    root_conftest.pytest_collection_modifyitems(None, items)
    assert [item.path for item in items] == [outside, ROOT / heavy, ROOT / heavy, ROOT / light]
    assert root_conftest.repository_path(ROOT / heavy) == heavy


def test_the_listed_files_exist_and_make_test_keeps_the_order():
    seconds = json.loads(root_conftest.FILE_SECONDS.read_text())
    missing = [p for p in seconds if not (ROOT / p).is_file()]
    assert not missing, f"tests/file_seconds.json lists files that no longer exist: {missing}"
    assert all(isinstance(s, int | float) and s >= 0 for s in seconds.values())
    commands = [line for line in (ROOT / "Makefile").read_text().splitlines() if not line.lstrip().startswith("#")]
    assert any("--dist loadfile --no-loadscope-reorder" in line for line in commands)
