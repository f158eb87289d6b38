"""pytest configuration shared by the unit tests and the notebook run (nbval).

The notebooks run in the ``ci`` profile unless COURSE_PROFILE says otherwise; the kernels that
nbval starts inherit these variables.

Real data: every dataset lookup of a notebook is logged (COURSE_DATA_LOG, one JSON line each, see
``course_utils.data.record_data_source``; COURSE_NOTEBOOK names the notebook whose kernel is
starting). At the end the run lists which data each notebook used, and fails if a notebook used a
built-in stand-in for a dataset that the data folder or the mirror (COURSE_DATA_MIRROR) holds.

A solution notebook that tests/test_site.py executed in this same run, unchanged and in the same
profile (its kernels log their data too), is not executed a second time by nbval.
"""
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("COURSE_PROFILE", "ci")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_NO_WIDGETS", "1")

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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # before nbval starts a notebook's kernel (which copies os.environ): name the notebook
    if item.path.suffix == ".ipynb":
        os.environ["COURSE_NOTEBOOK"] = item.path.name
        from course_tools import site
        profile = os.environ.get("COURSE_PROFILE", "ci")
        if site.executed_here(item.path, profile):
            pytest.skip(f"{item.path.name} as it is now was executed in the {profile} profile by "
                        "tests/test_site.py in this run (without error; its data checked)")
    else:
        os.environ.pop("COURSE_NOTEBOOK", None)


def pytest_sessionfinish(session, exitstatus):
    from course_tools.data_log import check_data_log, read_data_log
    from course_utils.profiles import default_data_dir

    mirror = os.environ.get("COURSE_DATA_MIRROR")
    summary, problems = check_data_log(read_data_log(session.config._course_data_log),
                                       default_data_dir(), Path(mirror) if mirror else None)
    session.config._course_data_report = summary, problems
    if problems and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
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

