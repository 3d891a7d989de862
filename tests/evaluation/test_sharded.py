"""Data-parallel evaluation: shares of a benchmark, the per-process prediction cache, the launcher's
environment, and end to end under `accelerate launch` (2 CPU processes over gloo) against one process,
including a run killed mid-benchmark and finished by one process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dyco_repro.evaluate import check_launch
from dyco_repro.evaluation.inference import PredictionCache
from dyco_repro.evaluation.results import RESULTS_FILE
from dyco_repro.evaluation.sharding import Processes, join_processes, launched_world, shard_batches
from dyco_repro.evaluation.suite import EvalError

REPO = Path(__file__).resolve().parents[2]
ACCELERATE_CPU = REPO / "configs" / "accelerate" / "cpu_gloo.yaml"
SYNTHETIC = ("Synth_Math", "Synth_MCQ", "Synth_MME")

# ---- which process generates what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,batch,world", [(24, 8, 2), (48, 8, 2), (10, 3, 2), (7, 2, 3), (5, 8, 2), (0, 4, 2), (100, 1, 8), (9, 4, 1)]
)
def test_shares_are_disjoint_cover_everything_and_are_the_single_process_batches(n, batch, world):
    todo = [i * 3 for i in range(n)]  # positions left after a cache: not 0..n-1
    shares = [shard_batches(todo, batch, rank, world) for rank in range(world)]
    single = shard_batches(todo, batch, 0, 1)
    assert sorted(b for share in shares for b in share) == sorted(single)  # the very batches of one process
    items = [i for share in shares for b in share for i in b]
    assert sorted(items) == todo and len(set(items)) == len(items)
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1  # balanced to one batch
    if n > batch and world > 1:  # more than one batch: no process generates everything
        assert all(sum(len(b) for b in share) < n for share in shares)


def test_shares_are_dealt_round_robin():
    assert shard_batches(list(range(10)), 3, 0, 2) == [[0, 1, 2], [6, 7, 8]]
    assert shard_batches(list(range(10)), 3, 1, 2) == [[3, 4, 5], [9]]
    assert shard_batches([], 3, 1, 2) == []


# ---- the per-process prediction cache ----------------------------------------------------------------------


def test_each_process_appends_to_its_own_file_and_loading_reads_them_all(tmp_path):
    identity = {"checkpoint_fingerprint": "abc"}
    main = PredictionCache(tmp_path, identity)
    main.add([("0", "a")])
    PredictionCache(tmp_path, identity, rank=1).add([("1", "b"), ("3", "d")])
    PredictionCache(tmp_path, identity, rank=2).add([("2", "c")])
    assert main.lines.name == "predictions.jsonl"
    assert sorted(p.name for p in tmp_path.glob("predictions*.jsonl")) == [
        "predictions.jsonl",
        "predictions.rank1.jsonl",
        "predictions.rank2.jsonl",
    ]
    # any process count reads the same predictions, e.g. one process resuming three
    assert PredictionCache(tmp_path, identity).load() == {"0": "a", "1": "b", "2": "c", "3": "d"}


def test_another_rank_never_resets_the_cache_and_rank_0_resets_every_file(tmp_path):
    PredictionCache(tmp_path, {"id": 1}).add([("0", "a")])
    PredictionCache(tmp_path, {"id": 1}, rank=1).add([("1", "b")])
    PredictionCache(tmp_path, {"id": 2}, rank=1)  # a rank > 0 only appends: the identity is rank 0's to check
    assert PredictionCache(tmp_path, {"id": 1}).load() == {"0": "a", "1": "b"}
    assert PredictionCache(tmp_path, {"id": 2}).load() == {}  # new settings: every process's file is dropped
    assert not list(tmp_path.glob("predictions*.jsonl"))


def test_a_cut_line_in_another_process_file_is_dropped_before_it_appends_again(tmp_path):
    PredictionCache(tmp_path, {"id": 1}).add([("0", "a")])
    other = PredictionCache(tmp_path, {"id": 1}, rank=1)
    other.add([("1", "b")])
    other.lines.write_text(other.lines.read_text() + '{"index": "2", "predi')  # killed mid-write
    assert PredictionCache(tmp_path, {"id": 1}).load() == {"0": "a", "1": "b"}
    other.add([("2", "c")])
    assert PredictionCache(tmp_path, {"id": 1}).load() == {"0": "a", "1": "b", "2": "c"}


# ---- the launcher's environment ------------------------------------------------------------------------------


def test_without_a_launcher_it_is_one_process(monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    processes = join_processes()
    assert processes == Processes() and processes.is_main and not processes.distributed
    assert processes.broadcast([3, 1]) == [3, 1] and processes.gather("x") == ["x"]
    assert launched_world() == 1


@pytest.mark.parametrize(
    "env,message",
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
        ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, "RANK=2 is outside"),
        ({"WORLD_SIZE": "2", "RANK": "1"}, "MASTER_ADDR, MASTER_PORT unset"),
        ({"WORLD_SIZE": "2"}, "RANK=None is not an integer"),
    ],
)
def test_an_incomplete_launch_is_one_clear_error(monkeypatch, env, message):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(EvalError, match=message.replace("(", r"\(")):
        join_processes()


def test_the_vlmeval_backend_refuses_several_processes():
    check_launch("vlmeval", 1)
    check_launch("hf", 8)
    with pytest.raises(EvalError, match="cannot run as 2 processes"):
        check_launch("vlmeval", 2)


# ---- end to end: 2 processes against 1 -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra: str) -> dict:
    """Offline, one thread, no judge settings or proxies (VLMEvalKit would send even 127.0.0.1 through one)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and "proxy" not in k.lower()}
    return clean | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"} | extra


def command(output_root: Path, processes: int, *overrides: str) -> list[str]:
    args = ["profile=tiny", "checkpoint=base", f"output_root={output_root}", *overrides]
    if processes == 1:
        return [sys.executable, "-m", "dyco_repro.evaluate", *args]
    launch = ["--config_file", str(ACCELERATE_CPU), "--num_processes", str(processes)]
    launch += ["--main_process_port", str(free_port())]
    return [sys.executable, "-m", "accelerate.commands.launch", *launch, "-m", "dyco_repro.evaluate", *args]


def evaluate(output_root: Path, processes: int, *overrides: str, environ: dict | None = None) -> tuple[dict, str]:
    cmd = command(output_root, processes, *overrides)
    done = subprocess.run(cmd, capture_output=True, text=True, env=environ or env(), cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(results_file(output_root).read_text()), done.stdout


def results_file(output_root: Path) -> Path:
    (folder,) = (output_root / "eval").iterdir()
    return folder / RESULTS_FILE


def prediction_file(output_root: Path, bench: str) -> str:
    return (results_file(output_root).parent / bench / f"dyco_{bench}.tsv").read_text()


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    """The one-process reference: the tiny base model on the synthetic suite, one item per batch."""
    root = tmp_path_factory.mktemp("single") / "out"
    evaluate(root, 1, "eval.batch_size=1", "eval.synthetic_n=32")
    return root


@pytest.mark.slow
def test_two_processes_give_exactly_the_single_process_scores(single, tmp_path):
    root = tmp_path / "out"
    results, stdout = evaluate(root, 2, "eval.batch_size=1", "eval.synthetic_n=32")
    reference = json.loads(results_file(single).read_text())
    assert list(results["benchmarks"]) == list(SYNTHETIC)
    assert stdout.count("results: ") == 1  # rank 0 alone reports and writes
    for key, entry in results["benchmarks"].items():
        one = reference["benchmarks"][key]
        assert entry["score"] == one["score"] and entry["raw"] == one["raw"]
        assert entry["processes"] == 2 and one["processes"] == 1
        assert one["generated_per_process"] == [entry["n"]]
        assert sum(entry["generated_per_process"]) == entry["generated"] == entry["n"]
        assert all(0 < count < entry["n"] for count in entry["generated_per_process"])
        assert prediction_file(root, key) == prediction_file(single, key)  # merged in the dataset's order
    assert not list(root.rglob(".*.tmp*")), "no half-written file left behind"


@pytest.mark.slow
def test_a_judged_benchmark_is_judged_once_per_item_as_by_one_process(tmp_path):
    from fake_judge import FakeJudge, prompt_text

    judged, results = {}, {}
    for processes in (1, 2):
        with FakeJudge() as fake:
            environ = env(OPENAI_API_KEY="sk-test", OPENAI_API_BASE=fake.url)
            overrides = (
                "benchmarks=Synth_Math",
                "judge=openai",
                "eval.judge_nproc=2",
                "eval.synthetic_n=24",
                "eval.batch_size=8",
            )
            results[processes], _ = evaluate(tmp_path / str(processes), processes, *overrides, environ=environ)
            judged[processes] = sorted(prompt_text(r["body"]) for r in fake.judged())
    one, two = results[1]["benchmarks"]["Synth_Math"], results[2]["benchmarks"]["Synth_Math"]
    assert two["judge"] == "gpt-4o-mini" and two["generated_per_process"] == [16, 8]
    assert judged[1] and judged[2] == judged[1]  # the same items, each once: rank 0 alone asks the judge
    assert two["score"] == one["score"]


def cached_counts(output_root: Path) -> dict[str, int]:
    """Valid cached predictions per benchmark, over every process's file."""
    folder = results_file(output_root).parent
    counts = {}
    for key in SYNTHETIC:
        meta = folder / key / "predictions.meta.json"
        counts[key] = len(PredictionCache(folder / key, json.loads(meta.read_text())).load()) if meta.exists() else 0
    return counts


def kill_rank_1_when(launcher: subprocess.Popen, cache_file: Path, lines: int) -> None:
    """SIGKILL the launched process with RANK=1 once `cache_file` holds `lines` lines."""
    import psutil  # accelerate's own dependency

    deadline = time.monotonic() + 300
    while not (cache_file.exists() and len(cache_file.read_text().splitlines()) >= lines):
        assert launcher.poll() is None and time.monotonic() < deadline, "the evaluation ended before the kill"
        time.sleep(0.02)
    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == "1" and "dyco_repro.evaluate" in " ".join(child.cmdline()):
                os.kill(child.pid, signal.SIGKILL)
                return
        except psutil.NoSuchProcess:
            continue
    raise AssertionError("no process with RANK=1 found")


@pytest.mark.slow
def test_a_killed_two_process_run_is_finished_by_one_process_generating_nothing_twice(single, tmp_path):
    root = tmp_path / "out"
    overrides = ("eval.batch_size=1", "eval.synthetic_n=32")
    launcher = subprocess.Popen(
        command(root, 2, *overrides), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env(), cwd=REPO
    )
    try:
        # mid-benchmark: rank 1 has 16 of Synth_MCQ's 32 items (the second benchmark) and has done 3
        folder = root / "eval"
        while not folder.exists() or not any(folder.iterdir()):
            assert launcher.poll() is None, launcher.stderr.read()[-3000:]
            time.sleep(0.05)
        (run_dir,) = folder.iterdir()
        kill_rank_1_when(launcher, run_dir / "Synth_MCQ" / "predictions.rank1.jsonl", 3)
        launcher.wait(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.stderr.close()
    assert launcher.returncode != 0
    cached = cached_counts(root)
    reference = json.loads(results_file(single).read_text())
    n = {key: entry["n"] for key, entry in reference["benchmarks"].items()}
    assert cached["Synth_Math"] == n["Synth_Math"] and 0 < cached["Synth_MCQ"] < n["Synth_MCQ"]

    results, _ = evaluate(root, 1, *overrides)
    for key, entry in results["benchmarks"].items():
        assert entry["generated"] == n[key] - cached[key], key  # nothing cached is generated again
        assert entry["processes"] == 1 and entry["generated_per_process"] == [entry["generated"]]
        assert entry["score"] == reference["benchmarks"][key]["score"]
        assert prediction_file(root, key) == prediction_file(single, key)


# ---- a sweep cell evaluates on all its GPUs --------------------------------------------------------------------


def cell_commands(*overrides: str) -> list[list[str]]:
    from hydra import compose, initialize_config_dir

    from dyco_repro.cli import CONF_DIR
    from dyco_repro.sweep import register
    from dyco_repro.sweep.cells import plan_cell

    register()  # the sweep's launcher configs, as `python -m dyco_repro.sweep` does
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("sweep", overrides=["sweep_id=test", "output_root=/tmp/x", *overrides])
    return plan_cell(cfg, list(overrides), None).commands


@pytest.mark.parametrize("method", ["dyco", "zero_shot"])
def test_a_multi_gpu_cell_evaluates_through_accelerate_on_all_its_gpus(method):
    evaluate = cell_commands("algo=grpo", f"method={method}", "model.resources.gpus_per_node=8")[-1]
    start = evaluate.index("dyco_repro.evaluate")
    assert evaluate[:2] == ["accelerate", "launch"] and evaluate[evaluate.index("--num_processes") + 1] == "8"
    assert evaluate[evaluate.index("--config_file") + 1].endswith("configs/accelerate/ddp.yaml")  # no ZeRO sharding
    assert evaluate[start - 1] == "-m" and "--num_processes" not in evaluate[start:]


def test_a_one_gpu_cell_evaluates_as_one_process():
    evaluate = cell_commands("algo=grpo", "method=dyco", "model.resources.gpus_per_node=1")[-1]
    assert evaluate[:3] == [sys.executable, "-m", "dyco_repro.evaluate"]
