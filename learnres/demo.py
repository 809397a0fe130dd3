"""``learnres demo``: build a small graph, backpropagate, and check every gradient
against PyTorch.

The graph is a two-layer perceptron with a softmax cross-entropy loss on random data:

    h = relu(x @ W1 + b1);  logits = h @ W2 + b2;  L = cross_entropy(logits, y)
"""

from __future__ import annotations

import numpy as np

from learnres.autograd import Tensor
from learnres.functions import cross_entropy, relu

__all__ = ["add_arguments", "main", "run_demo"]


def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data and weights")
    parser.add_argument("--batch-size", type=int, default=8, help="examples in the batch")


def _forward(x, w1, b1, w2, b2, y, cross_entropy, relu):
    h = relu(x @ w1 + b1)  # (N, 4) @ (4, 16) -> (N, 16)
    logits = h @ w2 + b2  # (N, 16) @ (16, 3) -> (N, 3)
    return cross_entropy(logits, y)


def run_demo(seed: int = 0, batch_size: int = 8) -> list[tuple[str, tuple, float]]:
    """Run the graph in learnres and in torch (float64); rows of (name, shape, rel. error)."""
    import torch

    rng = np.random.default_rng(seed)
    arrays = {
        "x": rng.standard_normal((batch_size, 4)),
        "W1": rng.standard_normal((4, 16)) / 2,
        "b1": rng.standard_normal(16) / 10,
        "W2": rng.standard_normal((16, 3)) / 4,
        "b2": rng.standard_normal(3) / 10,
    }
    y = rng.integers(0, 3, size=batch_size)

    ours = {k: Tensor(v.copy(), requires_grad=True) for k, v in arrays.items()}
    loss = _forward(*ours.values(), y, cross_entropy, relu)
    loss.backward()

    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
    torch_loss = _forward(
        *theirs.values(), torch.tensor(y), torch.nn.functional.cross_entropy, torch.relu
    )
    torch_loss.backward()

    def rel(a, b):
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))

    rows = [("loss", (), rel(np.asarray(loss.item()), np.asarray(torch_loss.item())))]
    rows += [(f"dL/d{k}", v.shape, rel(v.grad, theirs[k].grad.numpy())) for k, v in ours.items()]
    return rows


def main(args) -> int:
    rows = run_demo(args.seed, args.batch_size)
    print("learnres demo: h = relu(x @ W1 + b1); L = cross_entropy(h @ W2 + b2, y)")
    print("Backpropagated in learnres and in torch.autograd (float64):\n")
    print(f"{'value':<8} {'shape':<10} {'max rel. error vs torch':>24}")
    for name, shape, err in rows:
        print(f"{name:<8} {str(shape):<10} {err:>24.2e}")
    worst = max(err for _, _, err in rows)
    ok = worst < 1e-10
    print(f"\n{'OK' if ok else 'MISMATCH'}: worst relative error {worst:.2e} (tolerance 1e-10)")
    return 0 if ok else 1
