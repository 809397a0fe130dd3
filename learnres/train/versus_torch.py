"""Moved to ``learnres.reference.versus_torch``: it needs the PyTorch reference, a layer above
training (see ``learnres/__init__.py``). This file stays so that the command the stored runs
recorded, ``python -m learnres.train.versus_torch ...``, still runs it; importing it does
nothing.
"""

import sys

if __name__ == "__main__":  # run as a program: a program sits above every layer
    from learnres.reference.versus_torch import main

    sys.exit(main())
