"""Checks (or with --fix restores) the verbatim copies that keep each model folder self-contained (remote code).

Usage: python scripts/check_copies.py [--fix]   (exit 1 while a copy differs from its canonical source)
"""

import sys

from eeg2img_hf.models.copies import main

if __name__ == "__main__":
    sys.exit(main())
