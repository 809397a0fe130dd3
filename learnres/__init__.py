"""learnres: Deep Residual Learning (He et al., 2015), built from an autograd engine up.

Layers, from the bottom up. A module imports from its own package and from the layers below
its own, never from a layer above nor from another package on its own line (packages on one
line are independent). tests/test_layers.py reads this table and checks every import, at the
top of a module or inside a function:

    backend, memory                  arrays on the CPU or GPU (the only CuPy import); malloc
    autograd                         Tensor, Function, the graph walk, no_grad
    functions                        the primitive ops, one Function each
    parallel, testing                the ops spread over cores; gradcheck and op parity
    nn                               Module, Parameter, the layers, the paper's blocks
    models, optim, data, data_parallel  networks; SGD; datasets, loader; a step over processes
    train                            the training loop, checkpoints, run folders, metrics
    analysis                         summaries, mult-adds, Fig. 3, probes of trained runs
    reference                        the PyTorch twins, compare, versus_torch, DDP
    bench                            learnres timed against PyTorch, on the same twins
    grading, lectures, demo, doctor  the exercises' grader; the chapters; two commands
    cli, __init__                    the ``learnres`` command; this file (``learnres.X``)
    __main__                         ``python -m learnres``

One link goes up, by a hand-over instead of an import: Tensor's operators (``a + b``) run the
ops of ``functions``, which gives itself to ``autograd.tensor.use_ops`` as it loads. Code
under ``if __name__ == "__main__":`` runs only as a program, above every layer: it is not
checked (``learnres.train.versus_torch`` keeps its old command that way).
"""

# learnres.functions also connects Tensor's operators (a + b) to the ops: see autograd/tensor.py
from learnres import functions, models, nn
from learnres.analysis import summary
from learnres.autograd import Function, OpError, Tensor, enable_grad, is_grad_enabled, no_grad
from learnres.backend import is_gpu_available

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "Function",
    "OpError",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "is_gpu_available",
    "functions",
    "nn",
    "models",
    "summary",
]
