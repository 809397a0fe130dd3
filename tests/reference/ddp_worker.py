"""One process of the two-process DDP test (tests/reference/test_ddp.py), started by the
test the way ``torchrun`` starts one: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the
environment.

    python -m tests.reference.ddp_worker OUT_DIR STEPS

Builds ResNet-8 with seed 0 (the learnres model), its torch twin in DDP over gloo, and takes
STEPS SGD steps with ``learnres.reference.ddp.train_step`` on this process's half of the
global batches of ``global_batch(step)``. After every step it gathers every process's
parameters and buffers; process 0 writes ``OUT_DIR/ddp.npz``: the largest difference
between the processes' parameters and buffers per step, the global losses, and its final
state dict.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

GLOBAL_BATCH = 16
LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4


def global_batch(step: int) -> tuple[np.ndarray, np.ndarray]:
    """The global batch of ``step``: float32 (16, 3, 32, 32) images and int64 labels."""
    rng = np.random.default_rng(1000 + step)
    x = rng.standard_normal((GLOBAL_BATCH, 3, 32, 32)).astype(np.float32)
    return x, rng.integers(0, 10, GLOBAL_BATCH)


def initial_model():
    from learnres.models import resnet
    from learnres.nn import init

    init.manual_seed(0)
    return resnet(8)


def flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1).double() for t in tensors])


def main(out: Path, steps: int) -> None:
    import torch.distributed as torch_dist
    from torch.nn.parallel import DistributedDataParallel

    from learnres.reference import to_torch
    from learnres.reference.ddp import init_distributed, train_step

    torch.set_num_threads(1)
    dist = init_distributed("cpu")
    twin = to_torch(initial_model())
    ddp = DistributedDataParallel(twin)
    optimizer = torch.optim.SGD(
        ddp.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY
    )
    share = GLOBAL_BATCH // dist.world_size
    param_diffs, buffer_diffs, losses = [], [], []
    for step in range(steps):
        x, y = global_batch(step)
        mine = slice(dist.rank * share, (dist.rank + 1) * share)
        loss, _, seen = train_step(
            ddp, optimizer, torch.from_numpy(x[mine]), torch.from_numpy(y[mine]), dist
        )
        assert seen == GLOBAL_BATCH
        losses.append(loss)
        for mine_, diffs in (
            (flat(twin.parameters()), param_diffs),
            (flat(b for b in twin.buffers() if b.is_floating_point()), buffer_diffs),
        ):
            every = [torch.empty_like(mine_) for _ in range(dist.world_size)]
            torch_dist.all_gather(every, mine_)
            diffs.append(max(float((e - every[0]).abs().max()) for e in every))
    if dist.is_main:
        state = {f"state/{k}": v.numpy() for k, v in twin.state_dict().items()}
        np.savez(
            out / "ddp.npz",
            param_diffs=np.array(param_diffs),
            buffer_diffs=np.array(buffer_diffs),
            losses=np.array(losses),
            **state,
        )
    torch_dist.barrier()  # both ranks tear gloo down together (one leaving early aborted the other)
    torch_dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
