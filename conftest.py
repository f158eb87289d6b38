"""pytest configuration shared by the unit tests and the notebook run (nbval).

The notebooks run in the ``ci`` profile unless COURSE_PROFILE says otherwise; the kernels that
nbval starts inherit these variables.
"""
import os

os.environ.setdefault("COURSE_PROFILE", "ci")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_NO_WIDGETS", "1")
