"""``python -m learnres.lectures ACTION ...``: see ``learnres.lectures.cli``."""

import sys

from learnres.lectures.cli import _main

sys.exit(_main())
