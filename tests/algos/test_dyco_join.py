"""DyCoJoin: group ids, group-granular shuffling, and metrics logging that never leaves a process waiting."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp

from dyco_repro.algos.dyco_join import GROUP, DyCoJoin
from dyco_repro.algos.grpo_family import shuffle_groups
from dyco_repro.dyco import DyCoConfig, DyCoSignals


class Logger(DyCoJoin):
    """DyCoJoin's logging and grouping without a trainer: what they read of one."""

    def __init__(self, accelerator) -> None:  # no TRL trainer to initialise
        self.dyco = DyCoConfig()
        self.accelerator = accelerator
        self.model = SimpleNamespace(training=True)
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        self._dyco_sapo = False


def signals(B: int, C: int) -> DyCoSignals:
    role = torch.tensor([[1, -1, 0, 1][:C]] * B)
    score = torch.where(role != 0, 0.5, 0.0)
    r_vis = torch.full((B, C), 0.25)
    return DyCoSignals(r_vis, 1 - r_vis, torch.zeros(B, C), torch.zeros(B, C), role, score)


def test_groups_follow_trl_layout():
    one = SimpleNamespace(process_index=0, device=torch.device("cpu"))
    assert Logger(one).dyco_groups(8, 4).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    second = SimpleNamespace(process_index=1, device=torch.device("cpu"))
    assert Logger(second).dyco_groups(6, 3).tolist() == [2, 2, 2, 3, 3, 3]


def test_shuffle_groups_keeps_groups_together_and_rows_aligned():
    torch.manual_seed(0)
    groups = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    batch = {
        GROUP: groups,
        "x": torch.arange(8) * 10,
        "rows": [f"r{i}" for i in range(8)],
        "num_items_in_batch": torch.tensor(5),
        "absent": None,
    }
    orders = set()
    for _ in range(20):
        out = shuffle_groups(batch)
        ids = out[GROUP].tolist()
        orders.add(tuple(ids))
        assert [ids[i] == ids[i + 1] for i in range(0, 8, 2)] == [True] * 4  # pairs stay together
        assert out["x"].tolist() == [10 * int(r[1:]) for r in out["rows"]]  # every value permuted alike
        assert sorted(out["x"].tolist()) == batch["x"].tolist()
        assert out["num_items_in_batch"] is batch["num_items_in_batch"] and out["absent"] is None
    assert len(orders) > 1, "groups are shuffled"


def _log_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    logger = Logger(accelerator)
    B, C = 4, 4
    mask = torch.ones(B, C, dtype=torch.long)
    if rank == 1:
        mask.zero_()  # every completion masked (DAPO masking truncated completions): no valid token
    for _ in range(2):
        factor = torch.where(mask.bool(), 1.1, 1.0)
        logger._log_dyco(signals(B, C), mask, factor)
    accelerator.wait_for_everyone()
    metrics = {k: v for k, v in logger._metrics["train"].items()}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(metrics))
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="gloo over localhost")
def test_two_processes_finish_when_one_has_no_valid_token(tmp_path):
    ctx = mp.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_log_worker, args=(rank, 2, port, str(tmp_path))) for rank in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    hung = [p for p in procs if p.is_alive()]
    for p in hung:
        p.kill()
    assert not hung, "a process waited forever in a collective the other never made"
    assert [p.exitcode for p in procs] == [0, 0]
    logged = [json.loads(Path(tmp_path, f"rank{r}.json").read_text()) for r in range(2)]
    assert logged[0] == logged[1], "every process logs the same gathered values"
    assert logged[0]["dyco/visual_frac"] == pytest.approx([0.5, 0.5])  # rank 0's tokens only; rank 1 sent NaN
    assert logged[0]["dyco/weight_min"] == pytest.approx([1.1, 1.1])
