"""The README's first code, the one a newcomer copies, runs as written on the shipped data."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def snippet() -> str:
    section = README.split("## Fit your own dose-response data", 1)
    assert len(section) == 2, "README has no section 'Fit your own dose-response data'"
    blocks = re.findall(r"```python\n(.*?)```", section[1].split("\n## ", 1)[0], flags=re.DOTALL)
    assert blocks, "the section holds no python code block"
    return blocks[0]


def test_readme_is_short_and_shows_the_two_commands():
    assert len(README.split()) < 2000, f"README has {len(README.split())} words; a newcomer reads it in five minutes"
    assert "make run" in README and "make test" in README
    code = snippet()
    assert len([ln for ln in code.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]) <= 15


# drc's LL.4 fit to ryegrass, ``drm(rootl ~ conc, data = ryegrass, fct = LL.4())``: EC50 = e = 3.05795 (Ritz et al.
# 2015's reference page; the template checks its own least-squares fit against all four of drc's estimates).
DRC_RYEGRASS_EC50 = 3.05795


def test_readme_snippet_runs(monkeypatch, capsys):
    # exactly as a reader would paste it, from the repository root, in two parts: the one curve, then the many
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("RECIPES_PROGRESS", "0")
    code = snippet()
    one_curve, sep, many_curves = code.partition("\n# Many curves")
    assert sep, "the snippet has no '# Many curves' part"
    ns: dict = {}
    exec(compile(one_curve, "README.md", "exec"), ns)  # noqa: S102 (the README's own code)
    assert "ecx_lower" in capsys.readouterr().out, "the snippet printed no ECx table with its interval"
    # drc's maximum-likelihood EC50 inside the 94% interval, and the interval within a factor of 4 (these data pin the
    # EC50 down; a broken fit or a wrong inversion would not)
    row = ns["ecx_table"](ns["model"], ns["fit"].idata, x=50).iloc[0]
    assert row["ecx_lower"] < DRC_RYEGRASS_EC50 < row["ecx_upper"], f"drc's EC50 outside the interval: {row}"
    assert row["ecx_upper"] / row["ecx_lower"] < 4, f"an EC50 interval this wide is not what these data give: {row}"
    exec(compile(sep + many_curves, "README.md", "exec"), ns)  # noqa: S102
    many = ns["ecx_table"](ns["model"], ns["fit"].idata, x=50)
    assert len(many) == ns["table"]["exper"].nunique(), "not one row per curve"
    assert ((many["ecx_lower"] < many["ecx"]) & (many["ecx"] < many["ecx_upper"])).all()
