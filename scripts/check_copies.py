"""Checks (or with --fix restores) the verbatim copies that keep each model folder and each `evaluate` metric
module folder self-contained.

Usage: python scripts/check_copies.py [--fix]   (exit 1 while a copy differs from its canonical source)
"""

import sys

from eeg2img_hf.metrics import evaluate_modules
from eeg2img_hf.models.copies import main

if __name__ == "__main__":
    fix = "--fix" in sys.argv[1:]
    stale = evaluate_modules.check_copies(fix=fix)
    for copy in stale:
        print(f"{'rewrote' if fix else 'stale'}: eeg2img_hf/evaluate_metrics/{copy} "
              f"(canonical: eeg2img_hf/metrics/{copy.split('/')[-1]})")
    status = main()
    sys.exit(1 if stale and not fix else status)
