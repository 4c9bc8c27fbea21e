"""Start a new analysis from the template recipe: ``python -m recipes_utils new "My analysis title"``.

Copies ``notebooks/template.ipynb`` to ``notebooks/<slug>.ipynb`` with the title and today's date filled in and
the outputs cleared, so the new notebook runs top to bottom as it is (on the template's example data) and is
ready to be changed into your analysis. It never overwrites an existing notebook.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import nbformat

from recipes_utils.config import REPO

__all__ = ["new_notebook", "slugify"]

TEMPLATE = REPO / "notebooks" / "template.ipynb"
MAX_TITLE = 100


def slugify(title: str) -> str:
    """``"Dose-response of compound X (2026)"`` -> ``"dose-response-of-compound-x-2026"``."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _check_title(title) -> str:
    if not isinstance(title, str):
        raise TypeError(f"the title must be a string, got {type(title).__name__}")
    title = " ".join(title.split())
    if not title:
        raise ValueError('the title is empty: give one, such as "Dose-response of compound X"')
    if len(title) > MAX_TITLE:
        raise ValueError(f"the title has {len(title)} characters; keep it under {MAX_TITLE}")
    if not slugify(title):
        raise ValueError(f"the title {title!r} has no letters or digits to name the file with")
    return title


def new_notebook(
    title: str,
    *,
    notebooks_dir: str | Path | None = None,
    template: str | Path = TEMPLATE,
    today: dt.date | None = None,
) -> Path:
    """Create ``<notebooks_dir>/<slug>.ipynb`` from the template; return its path.

    Raises
    ------
    ValueError
        An empty title, one over 100 characters, or one with no letter or digit.
    FileExistsError
        A notebook of that name exists already (it is left untouched).
    """
    title = _check_title(title)
    notebooks_dir = Path(notebooks_dir) if notebooks_dir is not None else REPO / "notebooks"
    slug = slugify(title)
    target = notebooks_dir / f"{slug}.ipynb"
    if target.exists():
        raise FileExistsError(f"{target} exists already; choose another title or edit that notebook")
    today = today or dt.date.today()

    nb = nbformat.read(template, as_version=4)
    first = nb.cells[0]
    lines = first.source.splitlines()
    if first.cell_type != "markdown" or not lines or not lines[0].startswith("# "):
        raise ValueError(f"{template} must start with a Markdown cell whose first line is the '# ' title")
    note = (
        f"*Created on {today.isoformat()} from the template recipe. It still runs the template's example "
        "(ryegrass and ferulic acid): replace the data, the priors and the text with your analysis, then "
        "run it top to bottom.*"
    )
    first.source = "\n".join([f"# {title}", "", note, *lines[1:]])
    saved_gallery = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if 'save_gallery_figure(fig, "template")' in cell.source:
                # The template's README image must not be overwritten by the copy.
                cell.source = cell.source.replace(
                    'save_gallery_figure(fig, "template")', f'save_gallery_figure(fig, "{slug}")'
                )
                saved_gallery = True
    if not saved_gallery:
        raise ValueError(f'{template} no longer calls save_gallery_figure(fig, "template"); update the scaffold')
    nb.metadata["recipe"] = {"order": 100, "level": "", "summary": f"{title} (write a one-line summary here)"}
    notebooks_dir.mkdir(parents=True, exist_ok=True)
    with open(target, "x", encoding="utf-8") as fh:  # "x": never overwrite, even in a race
        nbformat.write(nb, fh)
    return target
