"""The notebooks as a student meets them: JupyterLab in a real (headless) Chromium.

One JupyterLab server (a free local port, a token, temporary settings/workspaces/runtime folders)
and one Chromium, driven by Playwright, for the whole module; both are stopped even on failure.
For each solution notebook that calls a widget of ``course_utils.widgets`` (found by reading the
notebooks, so a new notebook is picked up): Run All in the ``ci`` profile, then every widget must
render as a widget (not "Loading widget...", not a text repr, no stray ``Out[n]``), each slider /
dropdown must change the figure above it, and setting it back must give exactly the figure shown
after Run All (so the first figure is right); a row of buttons (a game) must change the figure when
clicked. Two notebooks run at a time (``COURSE_BROWSER_PARALLEL``), each in its own tab and kernel;
JupyterLab keeps its default settings (comms over subshells on), so a redraw runs in a kernel
thread of its own as it does for students.
A student notebook must open without a kernel-selection dialog, and the browser console must show
no errors from the widgets.

Screenshots and a log go to ``build/test-artifacts/browser/`` (gitignored).

The browser: Debian's ``chromium`` (``apt-get install chromium``), or the executable named by
``COURSE_CHROMIUM``. Without it the tests are skipped locally and fail in CI (``CI`` set).
``COURSE_BROWSER_NOTEBOOKS=03,05`` limits the run to those notebooks (while developing).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from course_utils import widgets

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = ROOT / "build" / "test-artifacts" / "browser"
INSTALL_HINT = ("install Debian's Chromium (`sudo apt-get install chromium`) or set COURSE_CHROMIUM "
                "to a Chromium/Chrome executable, and `pip install -e '.[dev]'` for Playwright")

# The functions of course_utils.widgets that put a widget in a notebook (not the helpers).
WIDGET_CALLS = sorted(set(widgets.__all__) - {"widgets_available", "on_step_grid"})


def widget_notebooks(folder: Path = ROOT / "solutions") -> list[Path]:
    """The notebooks of ``folder`` whose code calls one of the course's widget functions."""
    call = re.compile(r"\b(%s)\(" % "|".join(map(re.escape, WIDGET_CALLS)))
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if any(not line.lstrip().startswith(("import", "from", "#")) and call.search(line)
               for line in code.splitlines()):
            found.append(path)
    return found


def _chromium() -> str | None:
    for candidate in (os.environ.get("COURSE_CHROMIUM"), "chromium", "chromium-browser",
                      "/usr/bin/chromium", "google-chrome"):
        if candidate and (shutil.which(candidate) or Path(candidate).is_file()):
            return shutil.which(candidate) or candidate
    return None


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}; {INSTALL_HINT} (.ci/run does this)")
    pytest.skip(f"{reason}: {INSTALL_HINT}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kernel_env(tmp: Path) -> dict:
    """The server's (and so the kernels') environment: ci profile, widgets on, nothing of ours."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("COURSE_") or k in ("CI", "MPLBACKEND", "JUPYTER_CONFIG_DIR"))}
    env.update(COURSE_PROFILE="ci", PYTHONPATH=str(ROOT), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    for keep in ("COURSE_DATA_MIRROR", "COURSE_DATA_DIR"):
        if os.environ.get(keep):
            env[keep] = os.environ[keep]
    return env


def _tree_cpu_seconds(root_pid: int) -> float | None:
    """CPU seconds (user + system, with reaped children: kernels already shut down) of process
    ``root_pid`` and its live descendants (kernels run in sessions of their own), from /proc
    (Linux); None elsewhere."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(stat.parent.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    if root_pid not in procs:
        return None
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += procs[pid][1]
        todo += [child for child, (ppid, _) in procs.items() if ppid == pid]
    return total


@pytest.fixture(scope="module")
def lab():
    """(base url, token, chromium, temp dir) of a JupyterLab serving copies of the course's
    notebooks (the kernels import this checkout's course_utils); stopped afterwards."""
    chromium = _chromium()
    if chromium is None:
        _unavailable("no Chromium found")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _unavailable("the Playwright package is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="course-browser-"))
    news = tmp / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false"}')  # no "official Jupyter news?" toast over the cells
    save = tmp / "settings" / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    save.parent.mkdir(parents=True)
    save.write_text('{"autosave": false}')
    # JupyterLab serves copies: nothing it does (a save, a checkpoint) can touch the course's files
    served = tmp / "course"
    for folder in ("solutions", "notebooks"):
        shutil.copytree(ROOT / folder, served / folder)
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp / "jupyterlab.log", "w")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}",
           "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly",
           f"--LabApp.user_settings_dir={tmp / 'settings'}", f"--LabApp.workspaces_dir={tmp / 'ws'}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    server = subprocess.Popen(cmd, env=_kernel_env(tmp), stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    t0 = time.time()
    try:
        deadline = time.time() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited ({server.returncode}): "
                            f"{(tmp / 'jupyterlab.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.time() > deadline:
                    pytest.fail("JupyterLab did not answer within 90 s")
                time.sleep(0.5)
        yield base, token, chromium, tmp
    finally:
        cpu = _tree_cpu_seconds(server.pid) if Path('/proc').is_dir() else None
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the server and the kernels it started
            try:
                os.killpg(server.pid, sig)
                server.wait(timeout=20)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()
        REPORT.append(f"JupyterLab up {time.time() - t0:.0f} s; CPU used by it and its kernels: "
                      + (f"{cpu:.0f} s" if cpu is not None else "not measured (no /proc)"))
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        (ARTEFACTS / "report.txt").write_text("\n".join(REPORT) + "\n")
        shutil.copy(tmp / "jupyterlab.log", ARTEFACTS / "jupyterlab.log")
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    _, _, chromium, tmp = lab
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


class Page:
    """One browser tab on one notebook, with its console errors."""

    def __init__(self, browser, lab, relpath: str):
        base, token, _, _ = lab
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.goto(f"{base}/lab/tree/{relpath}?token={token}&reset")
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                    " && window.jupyterapp.shell.currentWidget.sessionContext",
                                    timeout=60_000)
        self.page.wait_for_function("() => { const s = window.jupyterapp.shell.currentWidget"
                                    ".sessionContext; return s.session && s.session.kernel && "
                                    "s.session.kernel.status === 'idle'; }", timeout=90_000)

    def close(self):
        if self.context is None:
            return
        try:
            self.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        except Exception:  # the tab or the kernel is already gone
            pass
        self.context.close()
        self.context = None

    def start_run_all(self):
        self.started = time.time()
        self.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def wait_run_all(self, timeout_s: float) -> float:
        """Wait until Run All is done: the kernel idle and every code cell run (or one failed)."""
        self.page.wait_for_function("""() => {
            const nb = window.jupyterapp.shell.currentWidget;
            const cells = nb.content.widgets.filter(c => c.model.type === 'code');
            const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
            const done = cells.every(c => c.model.executionCount !== null && c.promptNode &&
                                          !c.promptNode.textContent.includes('*'));
            return failed || (done && nb.sessionContext.session.kernel.status === 'idle');
        }""", timeout=timeout_s * 1000, polling=500)
        errors = self.page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
            .filter(c => c.model.type === 'code')
            .flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error')
            .map(o => o.ename + ': ' + o.evalue))""")
        assert not errors, f"Run All stopped at an error: {errors}"
        return time.time() - self.started

    def shot(self, name: str, locator=None):
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        (locator or self.page).screenshot(path=str(ARTEFACTS / f"{name}.png"))


def _images(cell) -> list[str]:
    return [img.get_attribute("src") for img in cell.locator(".jp-OutputArea-output img").all()]


def _wait_images(page, cell, pred, what: str, timeout_s: float = 60):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        imgs = _images(cell)
        if imgs and pred(imgs):
            return imgs
        page.wait_for_timeout(250)
    raise AssertionError(f"the figure above the widget never {what} (waited {timeout_s:.0f} s)")


def _readout(control) -> str:
    r = control.locator(".widget-readout")
    return r.inner_text() if r.count() else ""


def _move_slider(page, control, key: str) -> bool:
    """Press an arrow key on the slider's handle; True when its value changed."""
    before = _readout(control)
    control.locator(".noUi-handle").first.focus()
    page.keyboard.press(key)
    for _ in range(20):  # the readout follows within a few frames (slower on a busy machine)
        page.wait_for_timeout(150)
        if _readout(control) != before:
            return True
    return False


NOTEBOOKS = widget_notebooks()
# Notebooks whose Run All goes on at the same time (each in its own tab and kernel): while one
# notebook's widgets are driven, the next ones run.
PARALLEL = int(os.environ.get("COURSE_BROWSER_PARALLEL", "2"))
_only = os.environ.get("COURSE_BROWSER_NOTEBOOKS")
if _only:
    NOTEBOOKS = [p for p in NOTEBOOKS if p.name[:2] in _only.split(",")]
REPORT: list[str] = []
CONTROLS = ".widget-hbox .widget-slider, .widget-hbox .widget-dropdown, .widget-hbox > .widget-button"


def test_widget_notebooks_are_found():
    names = [p.stem[:2] for p in widget_notebooks()]
    assert {"03", "04", "05"} <= set(names), names  # compare (03, 05) and interact_or_static (04)
    assert "00" not in names                         # 00 shows no widget


@pytest.fixture(scope="module")
def tabs(lab, browser):
    """Opens the widget notebooks and starts their Run All, PARALLEL at a time, in NOTEBOOKS order."""
    opened: dict[Path, Page] = {}

    def get(path: Path) -> Page:
        i = NOTEBOOKS.index(path)
        for nxt in NOTEBOOKS[i:i + PARALLEL]:
            if nxt not in opened:
                opened[nxt] = Page(browser, lab, f"solutions/{nxt.name}")
                opened[nxt].start_run_all()
        return opened[path]

    yield get
    for tab in opened.values():
        tab.close()


@pytest.mark.browser
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_widgets_render_and_respond_in_jupyterlab(tabs, path):
    tab = tabs(path)
    try:
        page = tab.page
        seconds = tab.wait_run_all(timeout_s=420)
        page.wait_for_timeout(1000)
        # the course's widgets: a row of sliders / dropdowns / buttons (tqdm's bars are widgets too)
        cells = page.locator(".jp-CodeCell").filter(has=page.locator(CONTROLS))
        n = cells.count()
        expected = _expected_widgets(path)
        assert n == expected, (f"{path.name}: {n} widgets rendered, {expected} calls in the notebook "
                               f"(outputs: {page.locator('.jp-OutputArea-output').all_inner_texts()[:20]})")
        text = " ".join(page.locator(".jp-Notebook").all_inner_texts())
        assert "Loading widget" not in text and not re.search(r"\b(HBox|VBox)\(children=", text), \
            f"{path.name}: a widget shows as text, not as a widget"
        for i in range(n):
            cell = cells.nth(i)
            cell.scroll_into_view_if_needed()
            first = _wait_images(page, cell, lambda imgs: True, "appeared")
            stray = cell.locator(".jp-OutputArea-executeResult")
            assert stray.count() == 0, f"{path.name} widget {i}: a stray Out[n]: {stray.all_inner_texts()}"
            tab.shot(f"{path.stem}-widget{i}-after-run-all", cell)
            controls = cell.locator(CONTROLS)
            assert controls.count() > 0, f"{path.name} widget {i}: no slider, dropdown or button"
            for j in range(controls.count()):
                c = controls.nth(j)
                if "widget-button" in (c.get_attribute("class") or ""):
                    # a game (which_is_real): a click moves to the next round, with no way back
                    label = c.inner_text().strip() or f"button {j}"
                    c.click()
                    _wait_images(page, cell, lambda imgs: imgs != first, "changed")
                    tab.shot(f"{path.stem}-widget{i}-button-{label}-clicked", cell)
                    REPORT.append(f"{path.stem} widget {i} button '{label}': rendered, responded")
                    break
                label = (c.locator(".widget-label").first.inner_text() or f"control {j}").strip()
                if "widget-dropdown" in (c.get_attribute("class") or ""):
                    select = c.locator("select")
                    old = select.input_value()
                    other = [o for o in select.locator("option").all() if o.get_attribute("value") != old]
                    assert other, f"{path.name} {label}: a dropdown with one option"
                    select.select_option(other[0].get_attribute("value"))
                    back = lambda: select.select_option(old)  # noqa: E731
                else:
                    key, undo = "ArrowRight", "ArrowLeft"
                    if not _move_slider(page, c, key):
                        key, undo = undo, key
                        assert _move_slider(page, c, key), f"{path.name} {label}: the slider does not move"
                    back = lambda: _move_slider(page, c, undo)  # noqa: E731
                moved = _wait_images(page, cell, lambda imgs: imgs != first, "changed")
                assert moved != first
                tab.shot(f"{path.stem}-widget{i}-{label}-moved", cell)
                back()
                _wait_images(page, cell, lambda imgs: imgs == first,
                             "came back to the figure shown after Run All")
                REPORT.append(f"{path.stem} widget {i} '{label}': rendered, responded, reset to the "
                              "first figure")
        widget_errors = [e for e in tab.errors if re.search(r"widget|comm|jupyter-widgets|model", e, re.I)]
        (ARTEFACTS / f"{path.stem}-console.txt").write_text("\n".join(tab.errors) + "\n")
        assert not widget_errors, f"{path.name}: console errors from the widgets: {widget_errors[:5]}"
        REPORT.append(f"{path.stem}: Run All done {seconds:.0f} s after it started "
                      f"({PARALLEL} notebooks at a time), {n} widget(s)")
        print(REPORT[-1])
    except Exception:
        tab.shot(f"{path.stem}-FAILED")
        raise
    finally:
        tab.close()
        (ARTEFACTS / "report.txt").write_text("\n".join(REPORT) + "\n")


def _expected_widgets(path: Path) -> int:
    """How many widget calls the notebook's code makes (one per call site)."""
    call = re.compile(r"^\s*(?:[\w, ]+=\s*)?(?:\w+\.)?(%s)\(" % "|".join(map(re.escape, WIDGET_CALLS)),
                      re.M)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum(len(call.findall("".join(c["source"]))) for c in cells if c["cell_type"] == "code")


@pytest.mark.browser
def test_a_student_notebook_opens_without_a_kernel_dialog(lab, browser):
    tab = Page(browser, lab, "notebooks/00_welcome.ipynb")  # waits for an idle kernel
    try:
        tab.page.wait_for_timeout(1500)
        dialogs = tab.page.locator(".jp-Dialog")
        tab.shot("student-notebook-opened")
        assert dialogs.count() == 0, f"a dialog opened: {dialogs.all_inner_texts()}"
        kernel = tab.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext"
                                   ".session.kernel.name")
        assert kernel == "python3"
    finally:
        tab.close()


@pytest.mark.browser
def test_a_page_of_the_course_site_opens(browser, tmp_path):
    """One page of the students' site (03, executed through the site's cache) in the browser:
    its figures load and its navigation leads back to the course map."""
    from course_tools import site

    html = site.build("students", "ci", out=tmp_path / "site", stems=["03_interpolation"],
                      log=lambda *a: None)
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((html / "03_interpolation.html").as_uri())
        page.wait_for_load_state("load")
        assert "Interpolation" in page.title()
        sizes = page.evaluate("() => [...document.querySelectorAll('img')]"
                              ".filter(i => i.src.includes('_images/')).map(i => i.naturalWidth)")
        assert sizes and all(w > 0 for w in sizes), f"figures that did not load: {sizes}"
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "site-03_interpolation.png"))
        page.locator("a[href='index.html']").first.click()
        page.wait_for_load_state("load")
        assert page.locator("a[href='03_interpolation.html']").count() > 0  # the course map
        # sphinx-thebe (pulled in by Jupyter Book 1.0.4 with Sphinx 7.4) declares its config
        # script twice on every page; thebe is not used by the course's static pages
        errors = [e for e in errors if "THEBE_JS_URL" not in e]
        assert not errors, errors
    finally:
        context.close()


def test_without_a_browser_it_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        _unavailable("no Chromium found")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI.*apt-get install chromium"):
        _unavailable("no Chromium found")


def test_the_browser_is_found_from_the_environment_variable(monkeypatch, tmp_path):
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("COURSE_CHROMIUM", str(fake))
    assert _chromium() == str(fake)
