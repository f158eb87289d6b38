"""pytest configuration shared by the unit tests and the notebook run (nbval).

The notebooks run in the ``ci`` profile unless COURSE_PROFILE says otherwise; the kernels that
nbval starts inherit these variables.

Real data: every dataset lookup of a notebook is logged (COURSE_DATA_LOG, one JSON line each, see
``course_utils.data.record_data_source``; COURSE_NOTEBOOK names the notebook whose kernel is
starting). At the end the run lists which data each notebook used, and fails if a notebook used a
built-in stand-in for a dataset that the data folder or the mirror (COURSE_DATA_MIRROR) holds.

The solution notebooks are executed once per content (tests/test_notebooks.py and the site test share
``course_tools.site``'s cache, whose executions carry their data records into the log).

Fast and full runs: ``pytest -m "not slow"`` leaves out what executes notebooks (the modules in
``SLOW_MODULES``, notebook items, tests marked ``slow``); CI runs everything. Skips are real: in CI
(``CI`` set) or with ``COURSE_STRICT_SKIPS=1``, a skip whose reason is not in ``ALLOWED_SKIPS``
fails the run, so a test that silently stopped running is seen.
"""
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("COURSE_PROFILE", "ci")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_NO_WIDGETS", "1")

# Test modules whose tests execute notebooks (kernels): marked slow, left out of the fast run.
SLOW_MODULES = {"test_site.py", "test_browser.py", "test_mutations.py", "test_grade.py",
                "test_notebooks.py"}

# Skips CI accepts (a substring of the reason -> why it is not a lost test).
ALLOWED_SKIPS = {
    "the deadline test needs a time earlier today": "tests/test_srgan.py: a run just after midnight",
}

# Variables a test must not leave changed (use monkeypatch.setenv / delenv instead).
_WATCHED = ("CI", "MPLBACKEND", "OMP_NUM_THREADS")


def _watched_env() -> dict:
    return {k: v for k, v in os.environ.items() if k.startswith("COURSE_") or k in _WATCHED}


@pytest.fixture(autouse=True)
def _tests_leave_the_environment_alone(request):
    before = _watched_env()
    yield
    after = _watched_env()
    if after != before:
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        os.environ.update(before)  # repair it for the tests (and notebooks) that follow
        for k in changed:
            if k not in before:
                del os.environ[k]
        pytest.fail(f"{request.node.nodeid} changed {', '.join(changed)} in os.environ for the rest "
                    "of the run; use the monkeypatch fixture (setenv/delenv).")


def pytest_configure(config):
    fd, log = tempfile.mkstemp(prefix="course-data-", suffix=".jsonl")
    os.close(fd)
    os.environ["COURSE_DATA_LOG"] = config._course_data_log = log


def pytest_unconfigure(config):
    Path(config._course_data_log).unlink(missing_ok=True)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # before nbval (`pytest solutions/NN.ipynb`) starts a notebook's kernel: name the notebook
    if item.path.suffix == ".ipynb":
        os.environ["COURSE_NOTEBOOK"] = item.path.name
    else:
        os.environ.pop("COURSE_NOTEBOOK", None)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if not any(allowed in reason for allowed in ALLOWED_SKIPS):
            _UNEXPECTED_SKIPS.append(f"{report.nodeid}: {reason}")


_UNEXPECTED_SKIPS: list[str] = []


def strict_skips() -> bool:
    """Unexpected skips fail the run in CI (``CI`` set) or with ``COURSE_STRICT_SKIPS=1``."""
    return bool(os.environ.get("CI")) or os.environ.get("COURSE_STRICT_SKIPS") == "1"


def pytest_sessionfinish(session, exitstatus):
    from course_tools.data_log import check_data_log, read_data_log
    from course_utils.profiles import default_data_dir

    mirror = os.environ.get("COURSE_DATA_MIRROR")
    summary, problems = check_data_log(read_data_log(session.config._course_data_log),
                                       default_data_dir(), Path(mirror) if mirror else None)
    session.config._course_data_report = summary, problems
    if problems and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if _UNEXPECTED_SKIPS and strict_skips() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _UNEXPECTED_SKIPS:
        strict = strict_skips()
        terminalreporter.section("FAILED: unexpected skips (CI)" if strict else "skipped tests",
                                 red=strict)
        for line in _UNEXPECTED_SKIPS:
            terminalreporter.write_line(line, red=strict)
        if strict:
            terminalreporter.write_line("A skip in CI is a test that did not run: give it what it "
                                        "needs, or add its reason to ALLOWED_SKIPS (conftest.py) with why.")
    summary, problems = getattr(config, "_course_data_report", ([], []))
    if summary:
        terminalreporter.section("data used by the notebooks")
        for line in summary:
            terminalreporter.write_line(line)
    if problems:
        terminalreporter.section("FAILED: notebooks fell back to built-in stand-ins", red=True)
        for line in problems:
            terminalreporter.write_line(line, red=True)
        terminalreporter.write_line("The real data is configured, so CI must use it: see why the "
                                    "notebook did not find it (the warning in its output).")

