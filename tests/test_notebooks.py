"""Every solution notebook runs without error, top to bottom, in the test profile (``ci`` unless
COURSE_PROFILE says otherwise), in a fresh kernel.

The execution is the course site's (``course_tools.site.execute``): executed copies are cached by
content (notebook, profile, data mirror, library, checkpoints), so tests/test_site.py builds its pages
from these same executions and an unchanged notebook is not run twice. The data each execution
used reaches the run's data log (conftest.py checks it), also when it comes from the cache.
"""
import os

import pytest

from course_tools import site

STEMS = site.notebook_stems()


@pytest.mark.parametrize("stem", STEMS)
def test_solution_notebook_runs(stem):
    profile = os.environ.get("COURSE_PROFILE", "ci")
    log = []
    out = site.execute([stem], profile, log=log.append)
    assert out[stem].is_file(), log
