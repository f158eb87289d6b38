"""Instructor and maintainer tools (grading, release, site, ...): not imported by the course notebooks."""
