"""The package's two groups: what a reader imports to do statistics never imports the book's machinery, and the
module list in recipes_utils/__init__.py names every module once."""

import ast
import sys
from pathlib import Path

import pytest

import recipes_utils

PACKAGE = Path(recipes_utils.__file__).resolve().parent


def top_level_modules() -> set[str]:
    """recipes_utils' modules and subpackages, by name."""
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return names


def files_of(module: str) -> list[Path]:
    path = PACKAGE / module
    return sorted(path.rglob("*.py")) if path.is_dir() else [PACKAGE / f"{module}.py"]


def imported_modules(path: Path) -> set[str]:
    """The recipes_utils modules (top level) a file imports, absolute or relative, at any depth of the file."""
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]  # ("recipes_utils", ...)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = list(package_parts[: len(package_parts) - node.level + 1])
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "recipes_utils" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_imported_modules_reads_absolute_relative_and_nested_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "recipes_utils"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "sub" / "x.py").write_text(
        "import recipes_utils.runner\nfrom recipes_utils import book, config\nfrom ..reproduce import main\n"
        "from . import y\ndef f():\n    from recipes_utils.scaffold import new_notebook\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert imported_modules(pkg / "sub" / "x.py") == {"runner", "book", "config", "reproduce", "scaffold", "sub"}


def test_the_two_groups_name_every_module_once():
    statistics, machinery = set(recipes_utils.STATISTICS), set(recipes_utils.MACHINERY)
    assert not statistics & machinery
    assert statistics | machinery == top_level_modules(), "add the module to STATISTICS or MACHINERY"
    doc = recipes_utils.__doc__
    listed = {line.strip() for line in doc.splitlines() if line and not line.startswith(" ")}
    assert (statistics | machinery) - {"__main__"} <= listed, "each module gets its line in the module list"
    split = doc.index("The book's machinery")
    assert all(doc.index(f"\n{m}\n") < split for m in statistics)
    assert all(doc.index(f"\n{m}\n") > split for m in machinery - {"__main__"})


@pytest.mark.parametrize("module", recipes_utils.STATISTICS)
def test_statistics_modules_do_not_import_the_books_machinery(module):
    for path in files_of(module):
        machinery = imported_modules(path) & set(recipes_utils.MACHINERY)
        assert not machinery, f"{path.relative_to(PACKAGE.parent)} imports {sorted(machinery)}: the book's machinery"
