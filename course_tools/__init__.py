"""Pixels from Nothing: the instructors' and maintainers' tools (students do not need them).

release           student notebooks from solutions/ (python -m course_tools.release)
site              the course as a static web site (python -m course_tools.site build)
course_map        the README's course map and the notebooks' run-time lines (python -m course_tools.course_map)
checkpoint_tables the tables of checkpoints/README.md and the checkpoints' size budget
data_log          the test run's check of which data each notebook used
notebooks         one notebook reader/writer (nbformat) and one executor (nbclient)
grade             grade submissions in a sandbox (python -m course_tools.grade)
runs              the training scripts' skeleton: run folders, one meta, resuming, shipping (--ship)

These modules use ``course_utils`` (never the other way round) and import torch only where they
need it (``checkpoint_tables``).
"""
