"""Data-parallel evaluation: the processes of a launch, which items each generates, and the exchange of results.

Under `torchrun` / `accelerate launch` (WORLD_SIZE > 1, with RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT
as torchrun sets them) every process joins one gloo process group: what travels is Python objects
(item positions, prediction text, counts), which gloo moves on the CPU with or without GPUs, and a gloo
wait has no NCCL watchdog to kill a process while rank 0 builds data or scores. Without those variables
the evaluation is one process and nothing is initialised.

Rank 0 decides (which items are still to be generated) and broadcasts; every process generates its
share; rank 0 gathers and merges. A share is whole batches, dealt round-robin (`shard_batches`), so a
fresh sharded run generates exactly the batches a single process would, and greedy outputs match it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .suite import EvalError

# How long a process waits for the others at an exchange: a share of a large benchmark at 2,048 new
# tokens can take hours more on one process than another (e.g. when one loads the model from a slow disk).
WAIT = timedelta(hours=6)


@dataclass(frozen=True)
class Processes:
    """This process's place in the launch: rank in [0, world), local_rank = its GPU on the node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def device(self) -> str:
        """cuda:<local_rank> when CUDA is visible, else cpu. Raises EvalError when this node has too few GPUs."""
        import torch

        if not torch.cuda.is_available():
            return "cpu"
        if not self.distributed:
            return "cuda"
        if self.local_rank >= (count := torch.cuda.device_count()):
            raise EvalError(
                f"process {self.rank} wants GPU {self.local_rank} but this node has {count}; "
                f"launch at most {count} processes per node (accelerate launch --num_processes {count})"
            )
        torch.cuda.set_device(self.local_rank)
        return f"cuda:{self.local_rank}"

    def broadcast(self, value: Any) -> Any:
        """Rank 0's `value`, on every process (pickled; only rank 0's argument is used)."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value: Any) -> list[Any] | None:
        """Every process's `value` in rank order on rank 0; None on the others."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        out = [None] * self.world if self.is_main else None
        dist.gather_object(value, out, dst=0)
        return out

    def close(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def _env_int(name: str, default: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise EvalError(
            f"{name}={raw!r} is not an integer; launch the evaluation with accelerate launch or torchrun"
        ) from None


def launched_world() -> int:
    """How many processes the launcher started (WORLD_SIZE; 1 without a launcher)."""
    return _env_int("WORLD_SIZE", 1)


def join_processes() -> Processes:
    """This process's `Processes`; under a launcher with WORLD_SIZE > 1 it also joins the gloo group.
    Raises EvalError when the launcher's environment is incomplete or the group cannot form."""
    world = launched_world()
    if world <= 1:
        return Processes()
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK", 0)
    if not 0 <= rank < world:
        raise EvalError(f"RANK={rank} is outside WORLD_SIZE={world}; launch with accelerate launch or torchrun")
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
    if missing:
        raise EvalError(f"WORLD_SIZE={world} but {', '.join(missing)} unset; launch with accelerate launch or torchrun")
    import torch.distributed as dist

    if not dist.is_initialized():
        try:
            dist.init_process_group("gloo", rank=rank, world_size=world, timeout=WAIT)
        except (RuntimeError, ValueError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise EvalError(
                f"process {rank} of {world} could not join the others ({first}); check MASTER_PORT"
            ) from err
    return Processes(rank=rank, world=world, local_rank=local_rank)


def shard_batches(todo: list[int], batch_size: int, rank: int, world: int) -> list[list[int]]:
    """This process's batches of `todo` (dataset positions): the batches of `todo` in order, cut every
    `batch_size` items, dealt round-robin to the processes. The shares are disjoint, cover `todo`, and
    differ by at most one batch.

    >>> shard_batches(list(range(10)), 3, 1, 2)
    [[3, 4, 5], [9]]
    """
    batches = [todo[b * batch_size : (b + 1) * batch_size] for b in range(math.ceil(len(todo) / batch_size))]
    return batches[rank::world]
