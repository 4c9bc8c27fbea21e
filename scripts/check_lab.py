"""Run the template recipe through JupyterLab's own UI in headless Chromium: what ``make check-lab`` does.

    .venv/bin/python scripts/check_lab.py [--notebook notebooks/template.ipynb] [--scale full] [--out build]

1. copies the notebook into a temporary folder (JupyterLab autosaves; the stored recipe must not change) and starts
   JupyterLab from this environment on localhost, with a random token, serving that folder;
2. opens the notebook in headless Chromium (Debian's ``chromium``, driven by Playwright from PyPI), waits until the
   server reports its kernel started and idle, and runs every cell through the menu (Run > Run All Cells), as a
   reader would;
3. waits until every cell has run (or the run has stopped at a cell that raised: no cell busy, the kernel idle, for
   10 s; or JupyterLab shows a dialog), saves, and checks the saved notebook: every cell ran (the copy starts with
   no execution counts or outputs), no cell has an error output, no dialog came up but the "Select Kernel" one a
   reader answers with Select, nothing failed, and a progress bar appeared (nutpie's, which renders as HTML
   ``<progress>`` elements in JupyterLab);
4. re-runs the model and sampling cells (the reader's "run it again" after an edit) and times them;
5. writes ``<out>/check-lab.png`` (a screenshot of the sampling cell and its progress bar), ``<out>/check-lab.json``
   (the findings) and prints them. Exits 1 if a check fails.

Needs ``/usr/bin/chromium`` (Debian: ``apt install chromium``); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [  # the closed network here refuses Chromium's background connections: switch them off
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout:.0f} s")


def wait_until_idle(page, n_cells: int, timeout: float) -> None:
    """Wait until no cell shows the busy prompt [*] and every code cell has an execution count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        if len(prompts) >= n_cells and not any("*" in p for p in prompts) and all(p.strip() != "[ ]:" for p in prompts):
            return
        time.sleep(1)
    raise TimeoutError(f"the notebook was still running after {timeout:.0f} s")


def run_menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def note_dialogs(page, findings: dict, out: Path) -> bool:
    """Record a JupyterLab dialog (a dead kernel, a file changed on disk): it would stop a reader too. True if one is up."""
    texts = [" ".join(t.split()) for t in page.locator(".jp-Dialog").all_inner_texts()]
    seen = findings.setdefault("dialogs", [])
    new = [t for t in texts if t not in seen]
    if new:
        findings["dialogs"] += new
        page.screenshot(path=str(out / "check-lab-dialog.png"))
        print("dialog:", new, flush=True)
    return bool(texts)


def wait_for_kernel(page, base: str, token: str, name: str, findings: dict, out: Path, timeout: float = 180) -> None:
    """Wait until the notebook's kernel has started and is idle, as the server reports it, before running cells.

    On a cold start JupyterLab may open the notebook before it has read the kernel specs and ask which kernel to
    start ("Select Kernel", the notebook's own preselected); a reader clicks Select, and so does this (it is noted in
    the findings). Run All sent before the kernel is connected runs nothing.
    """
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and "Select Kernel" in dialog.first.inner_text():
            dialog.first.locator(".jp-mod-accept").first.click()
            findings["select_kernel_dialog_accepted"] = True
        elif dialog.count():
            note_dialogs(page, findings, out)
            raise RuntimeError("JupyterLab showed a dialog before the kernel was ready")
        try:
            with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=5) as r:
                sessions = json.load(r)
        except OSError:  # a busy server answers late: ask again
            time.sleep(0.5)
            continue
        if (
            any(s["path"].endswith(name) and (s.get("kernel") or {}).get("execution_state") == "idle" for s in sessions)
            and page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count()
        ):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the notebook's kernel was not started and idle within {timeout:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=REPO / "notebooks" / "template.ipynb")
    parser.add_argument("--scale", default="full", choices=["full", "smoke"])
    parser.add_argument("--out", type=Path, default=REPO / "build")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for the notebook to run")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} not found; install Debian's Chromium: sudo apt install chromium", file=sys.stderr)
        return 2
    import nbformat
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    findings: dict = {"notebook": args.notebook.name, "scale": args.scale}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "notebooks"
        root.mkdir()
        # JupyterLab 4 renders only the cells in view ("windowing"); render them all, so every prompt can be read.
        settings = Path(tmp) / "settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True)
        (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        target = root / args.notebook.name
        nb = nbformat.read(args.notebook, 4)
        for cell in nb.cells:  # a run that did nothing must not pass on the stored counts and outputs
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, target)
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        port, token = free_port(), secrets.token_hex(16)
        env = {k: v for k, v in os.environ.items() if k != "RECIPES_PROGRESS"}  # as a reader runs it: bars on
        env["RECIPES_SCALE"] = args.scale
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
             f"--LabApp.user_settings_dir={Path(tmp) / 'settings'}", "--allow-root"],  # --allow-root: containers, CI
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        progress_seen = False
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for_server(f"{base}/api/status?token={token}")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{base}/lab/tree/{target.name}?token={token}", wait_until="domcontentloaded")
                page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
                wait_for_kernel(page, base, token, target.name, findings, args.out)
                time.sleep(1)  # the kernel's first idle comes before JupyterLab has finished connecting to it
                start = time.monotonic()
                run_menu(page, "Run", "Run All Cells")
                progress_seen = False
                deadline = time.monotonic() + args.timeout
                stalled_since = None
                while time.monotonic() < deadline:  # watch for the progress bar while the cells run
                    if note_dialogs(page, findings, args.out):
                        break
                    progress_seen = progress_seen or page.locator(".jp-OutputArea progress").count() > 0
                    prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
                    done = len(prompts) >= len(code_cells) and not any("*" in p for p in prompts)
                    if done and all(p.strip() not in ("[ ]:", "") for p in prompts):
                        break
                    # Run All stops at a cell that raises: the kernel is idle, nothing is queued, cells are left unrun
                    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0
                    if done and idle:
                        stalled_since = stalled_since or time.monotonic()
                        if time.monotonic() - stalled_since > 10:
                            break
                    else:
                        stalled_since = None
                    time.sleep(0.5)
                if stalled_since is None and not findings["dialogs"]:
                    wait_until_idle(page, len(code_cells), timeout=max(1.0, deadline - time.monotonic()))
                findings["run_all_seconds"] = round(time.monotonic() - start, 1)
                progress_cell = page.locator(".jp-CodeCell", has=page.locator(".jp-OutputArea progress")).first
                if progress_cell.count():
                    progress_cell.scroll_into_view_if_needed()
                    progress_cell.screenshot(path=str(args.out / "check-lab.png"))
                else:
                    page.screenshot(path=str(args.out / "check-lab.png"))
                # Re-run the model and sampling cells, as a reader does after editing one (not after a failed run).
                rerun = []
                for needle in ("pm.Model(", "sample_nuts(") if stalled_since is None else ():
                    if note_dialogs(page, findings, args.out):
                        break
                    idx = next(i for i, c in enumerate(code_cells) if needle in c.source)
                    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(idx)
                    cell.scroll_into_view_if_needed()
                    cell.locator(".jp-InputArea-editor").click()
                    page.keyboard.press("Escape")
                    t = time.monotonic()
                    page.keyboard.press("Control+Enter")
                    time.sleep(0.3)
                    wait_until_idle(page, len(code_cells), timeout=300)
                    rerun.append(time.monotonic() - t)
                if rerun:
                    findings["rerun_model_and_sampling_cells_seconds"] = round(sum(rerun), 1)
                page.keyboard.press("Control+s")
                time.sleep(2)
                browser.close()
        except Exception as e:  # noqa: BLE001 - recorded and fails the check; the findings are still written
            findings["failure"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            server.terminate()
            server.wait(timeout=30)
        saved = nbformat.read(target, 4)
        errors = [
            f"cell {i + 1}: {o.get('ename')}: {o.get('evalue')}"
            for i, c in enumerate(saved.cells)
            if c.cell_type == "code"
            for o in c.get("outputs", [])
            if o.get("output_type") == "error"
        ]
        counts = [c.get("execution_count") for c in saved.cells if c.cell_type == "code"]
        findings.update(
            cells=len(counts),
            cells_run=sum(isinstance(n, int) for n in counts),
            errors=errors,
            progress_bar_seen=progress_seen or "<progress" in json.dumps(saved.cells),
            screenshot=str((args.out / "check-lab.png").relative_to(REPO) if args.out.is_relative_to(REPO)
                           else args.out / "check-lab.png"),
        )  # fmt: skip
    (args.out / "check-lab.json").write_text(json.dumps(findings, indent=2) + "\n")
    print(json.dumps(findings, indent=2))
    ok = not findings["errors"] and findings["cells_run"] == findings["cells"] and findings["progress_bar_seen"]
    ok = ok and not findings.get("dialogs") and "failure" not in findings
    print("check-lab: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
