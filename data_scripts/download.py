#!/usr/bin/env python
"""Fetch the course's datasets into data/ (sha256-checked). Run with --help or --list.

    python data_scripts/download.py Set5 Set14 T91          # from the network
    python data_scripts/download.py --mirror /path/to/mirror all   # from a local copy
    python data_scripts/download.py vgg19 vgg16             # ImageNet VGG-19 / VGG-16 weights
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils.download import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
