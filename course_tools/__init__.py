"""Instructors' and maintainers' tools (not imported by the notebooks): the training scripts' skeleton, ..."""
