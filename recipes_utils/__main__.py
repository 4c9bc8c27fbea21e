"""Command line: ``python -m recipes_utils new "My analysis title" [--dir notebooks]``."""

from __future__ import annotations

import argparse
import sys

from recipes_utils.scaffold import new_notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recipes_utils", description="Bayesian Analysis Recipes tools")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="start a new analysis notebook from the template")
    new.add_argument("title", help='the analysis title, such as "Dose-response of compound X"')
    new.add_argument("--dir", default=None, help="folder for the notebook (default: the repository's notebooks/)")
    args = parser.parse_args(argv)
    try:
        path = new_notebook(args.title, notebooks_dir=args.dir)
    except (ValueError, TypeError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"created {path}\nopen it with `make lab`; `make notebooks` stores it executed once it is ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
