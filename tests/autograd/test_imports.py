"""Tensor's operators reach the ops through one link (``learnres.autograd.tensor.use_ops``,
called by ``learnres/functions/__init__.py``): whichever part of learnres a program imports
first, ``a + b`` works. Each order runs in a fresh interpreter, where nothing is imported yet.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import learnres

REPO = Path(learnres.__file__).resolve().parents[1]

# what every order checks once its imports are done
CHECK = """
import learnres.autograd.tensor as tensor_module
import learnres.functions
a = Tensor([1.0, 2.0], requires_grad=True)
b = Tensor([3.0, 4.0])
y = (a + b) * a - b / 2
y.sum().backward()
assert (y.data == [2.5, 10.0]).all(), y.data
assert (a.grad == [5.0, 8.0]).all(), a.grad      # d/da (a + b) * a = 2a + b
assert tensor_module.F is learnres.functions
print("ok")
"""

ORDERS = {
    "learnres.autograd alone": "import learnres.autograd\nTensor = learnres.autograd.Tensor",
    "Tensor from learnres.autograd": "from learnres.autograd import Tensor",
    "learnres.functions first": "import learnres.functions\nfrom learnres.autograd import Tensor",
    "the tensor module first": "from learnres.autograd.tensor import Tensor",
    "the function module first": "import learnres.autograd.function\n"
    "from learnres.autograd import Tensor",
    "one op's module first": "import learnres.functions.elementwise\n"
    "from learnres.autograd import Tensor",
    "the package": "import learnres\nTensor = learnres.Tensor",
}


@pytest.mark.parametrize("imports", ORDERS.values(), ids=ORDERS.keys())
def test_tensor_operators_work_whatever_is_imported_first(imports):
    code = imports + "\n" + textwrap.dedent(CHECK)
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_link_is_made_once_by_learnres_functions():
    """``use_ops`` is called in one place: the last statement of learnres/functions/__init__.py."""
    callers = [
        path.relative_to(REPO).as_posix()
        for path in sorted((REPO / "learnres").rglob("*.py"))
        if "use_ops(" in path.read_text() and path.name != "tensor.py"
    ]
    assert callers == ["learnres/functions/__init__.py"]
