"""``python -m learnres`` is the ``learnres`` command."""

import sys

from learnres.cli import main

sys.exit(main())
