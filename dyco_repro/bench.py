"""Performance measurements, side by side in one process, reported as ratios.

    python -m dyco_repro.bench signal [--shapes tiny,mid] [--repeats N] [--device cpu|cuda]
    python -m dyco_repro.bench train [--algos grpo,dapo,gspo,sapo,rloo,ppo] [--steps N] [--blocks N]
    python -m dyco_repro.bench eval [--processes 1,2] [--n N] [--repeats N]

`signal` times, on the same inputs and weights:
  (a) a plain forward over prompt + completion (the model's default attention, sdpa);
  (b) the same forward with the DyCo capture armed;
  (c) the released code's way: eager attention with `output_attentions=True` in every layer.
(a) and (b) interleave; (c) runs after them (see `time_variants`).
Forwards run without grad and keep logits for the completion only, as TRL's do.

On CPU, timing runs with glibc set up as a caching allocator (no mmap, no trimming), as
PyTorch's CUDA allocator behaves: otherwise page faults from the kernel handing memory back and
forth add noise of several percent per forward, unrelated to the work measured.

Extra peak memory, also side by side in process: on CUDA from the allocator's peak statistics;
on CPU (torch keeps no CPU allocator statistics) from the kernel's resident-set high-water mark,
reset before each variant through /proc/self/clear_refs, with glibc told to hand large blocks
back to the OS so the peak is the live peak. Extra = variant peak - plain peak.

`capture_hook_s` is the time spent inside the capture's hooks (median per forward): a direct,
low-noise view of the capture's cost next to the end-to-end ratio, which CPU timing noise of a
few percent per forward can hide.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import re
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .dyco import DyCoConfig, capture_attention
from .dyco import capture as capture_module

VARIANTS = ("plain", "capture", "eager")
DEVICE = re.compile(r"cpu|cuda(:\d+)?")  # what the timing (CUDA sync) and peak memory code knows


@dataclass(frozen=True)
class Shape:
    """A random Qwen2.5-VL-shaped model and a rollout batch. text/vision as in tiny.model.SIZES."""

    text: tuple
    vision: tuple
    vocab: int | None  # None: the tiny tokenizer's vocabulary
    batch: int
    image_tokens: int  # per sample, after the 2x2 patch merge (a square grid)
    completion: int
    prompt_text: int = 24


SHAPES = {
    "tiny": Shape((64, 2, 4, 2, 128, [2, 3, 3]), (2, 32, 2, 64), None, 4, 16, 64),
    # About 8 layers, hidden 512 (the CPU shape); a small vocabulary keeps the LM head
    # from dominating the forward, which would flatter the ratio.
    "mid": Shape((512, 8, 8, 2, 2048, [8, 12, 12]), (4, 256, 4, 1024), 4096, 4, 256, 1024),
    # Qwen2.5-VL-3B-Instruct's dimensions (random weights); for a GPU.
    "qwen2_5_vl_3b": Shape((2048, 36, 16, 2, 11008, [16, 24, 24]), (32, 1280, 16, 3420), 151936, 4, 1024, 2048),
}


def build_model(shape: Shape, device: str, dtype: torch.dtype):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .tiny.model import qwen2_5_vl_config
    from .tiny.tokenizer import build_tokenizer

    tokenizer = build_tokenizer(seed=0)
    config = qwen2_5_vl_config(tokenizer, shape.text, shape.vision, vocab_size=shape.vocab)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration(config)
    return model.to(dtype).eval(), tokenizer


def build_inputs(shape: Shape, model, tokenizer, device: str, dtype: torch.dtype):
    """[left pad | <vision_start> image <vision_end> question <assistant> | completion | right pad]."""
    cfg, ids = model.config, tokenizer.convert_tokens_to_ids
    gen = torch.Generator().manual_seed(0)
    vocab = min(cfg.text_config.vocab_size, len(tokenizer))
    special = set(tokenizer.all_special_ids)
    ordinary = torch.tensor([i for i in range(vocab) if i not in special])
    word = lambda n: ordinary[torch.randint(len(ordinary), (n,), generator=gen)]  # noqa: E731
    side = int(shape.image_tokens**0.5)
    assert side * side == shape.image_tokens, "image_tokens must be a square number"

    rows = []
    for b in range(shape.batch):
        question = word(shape.prompt_text - 3 * b)  # prompts of different lengths -> left padding
        head = torch.tensor([ids("<|im_start|>"), ids("<|vision_start|>")])
        image = torch.full((shape.image_tokens,), cfg.image_token_id)
        tail = torch.tensor([ids("<|vision_end|>")])
        assistant = torch.tensor([ids("<|im_end|>"), ids("<|im_start|>")])
        rows.append(torch.cat([head, image, tail, question, assistant]))
    P = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    prompt = torch.stack([torch.cat([torch.full((P - len(r),), pad), r]) for r in rows])
    prompt_mask = torch.stack([torch.cat([torch.zeros(P - len(r)), torch.ones(len(r))]) for r in rows]).long()
    lengths = [shape.completion - (shape.completion // 8) * (b % 2) for b in range(shape.batch)]  # ragged
    completion_mask = (torch.arange(shape.completion)[None] < torch.tensor(lengths)[:, None]).long()
    completion = torch.where(completion_mask.bool(), word(shape.batch * shape.completion).view(shape.batch, -1), pad)

    input_ids = torch.cat([prompt, completion], 1)
    patches = shape.image_tokens * 4 * shape.batch
    patch_dim = 3 * 2 * 14 * 14
    inputs = {
        "input_ids": input_ids,
        "attention_mask": torch.cat([prompt_mask, completion_mask], 1),
        "mm_token_type_ids": (input_ids == cfg.image_token_id).long(),
        "pixel_values": torch.randn(patches, patch_dim, generator=gen).to(dtype),
        "image_grid_thw": torch.tensor([[1, 2 * side, 2 * side]] * shape.batch),
        "logits_to_keep": shape.completion + 1,
    }
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}, P


def run_variant(model, inputs, prompt_length: int, variant: str, cfg: DyCoConfig) -> None:
    with torch.no_grad():
        if variant == "plain":
            model(**inputs, use_cache=False)
        elif variant == "capture":
            with capture_attention(model, prompt_length, cfg) as cap:
                model(**inputs, use_cache=False)
            cap.statistics()
        else:
            model.set_attn_implementation("eager")
            try:
                model(**inputs, use_cache=False, output_attentions=True)
            finally:
                model.set_attn_implementation("sdpa")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_variants(model, inputs, P, cfg, device: str, repeats: int) -> tuple[dict[str, float], float]:
    """Median seconds per forward of each variant, and median seconds inside the capture's hooks.

    Plain and capture interleave so drift hits them alike; eager runs afterwards in its own loop,
    because its gigabytes of attention maps leave the allocator cold for whatever runs next.
    """
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    hook_times: list[float] = []
    for variant in VARIANTS:  # warm-up
        run_variant(model, inputs, P, variant, cfg)
    with _timed_hooks(hook_times):
        for i in range(repeats):
            for variant in ("plain", "capture") if i % 2 == 0 else ("capture", "plain"):  # ABBA: cancels drift
                hook_times.append(0.0)
                times[variant].append(_seconds(lambda v=variant: run_variant(model, inputs, P, v, cfg), device))
                if variant == "plain":
                    hook_times.pop()
    for _ in range(repeats):
        times["eager"].append(_seconds(lambda: run_variant(model, inputs, P, "eager", cfg), device))
    return {v: statistics.median(t) for v, t in times.items()}, statistics.median(hook_times)


def _seconds(fn, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


@contextmanager
def _timed_hooks(spent: list[float]):
    """Add the time spent in the capture's hook work to spent[-1]."""
    cls = capture_module.AttentionCapture
    originals = cls._reduce, cls._queries_and_keys

    def timed(fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[-1] += time.perf_counter() - start

        return wrapper

    cls._reduce, cls._queries_and_keys = (timed(fn) for fn in originals)
    try:
        yield
    finally:
        cls._reduce, cls._queries_and_keys = originals


def cuda_extra_peaks(model, inputs, P, cfg) -> dict[str, float]:
    peaks = {}
    for variant in VARIANTS:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        run_variant(model, inputs, P, variant, cfg)
        torch.cuda.synchronize()
        peaks[variant] = (torch.cuda.max_memory_allocated() - base) / 2**20
    return {v: peaks[v] - peaks["plain"] for v in VARIANTS}


# glibc mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4


def _libc():
    return ctypes.CDLL("libc.so.6")


def cpu_caching_allocator() -> None:
    """Keep freed memory in the process (timing phase)."""
    libc = _libc()
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)


def cpu_extra_peaks(model, inputs, P, cfg) -> dict[str, float]:
    libc = _libc()
    libc.mallopt(_M_MMAP_MAX, 65536)
    libc.mallopt(_M_MMAP_THRESHOLD, 1 << 16)  # blocks >= 64 KiB are mmapped, returned on free
    peaks: dict[str, float] = {}
    for round_ in range(3):  # round 0 settles the allocator; the peak is the least of rounds 1-2
        for variant in VARIANTS:
            gc.collect()
            libc.malloc_trim(0)
            base = _proc_status_mb("VmRSS")
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak resident set (VmHWM) to the current one
            run_variant(model, inputs, P, variant, cfg)
            if round_:
                peaks[variant] = min(peaks.get(variant, float("inf")), _proc_status_mb("VmHWM") - base)
    return {v: peaks[v] - peaks["plain"] for v in VARIANTS}


def _proc_status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def bench_signal(shape_name: str, device: str, dtype: str, repeats: int) -> dict[str, float]:
    """All three variants on one model and one batch, in this process."""
    shape, dt = SHAPES[shape_name], getattr(torch, dtype)
    model, tokenizer = build_model(shape, device, dt)
    inputs, P = build_inputs(shape, model, tokenizer, device, dt)
    cfg = DyCoConfig()
    if not device.startswith("cuda"):
        cpu_caching_allocator()
    t, hook_s = time_variants(model, inputs, P, cfg, device, repeats)
    peaks = cuda_extra_peaks if device.startswith("cuda") else cpu_extra_peaks
    extra = peaks(model, inputs, P, cfg)
    return {
        "forward_s": round(t["plain"], 5),
        "capture_s": round(t["capture"], 5),
        "eager_all_layers_s": round(t["eager"], 5),
        "capture_overhead_ratio": round(t["capture"] / t["plain"], 4),
        "eager_overhead_ratio": round(t["eager"] / t["plain"], 4),
        "capture_hook_s": round(hook_s, 5),
        "capture_hook_ratio": round(1 + hook_s / t["plain"], 4),
        "capture_extra_peak_mb": round(extra["capture"], 1),
        "eager_extra_peak_mb": round(extra["eager"], 1),
    }


def bench_train(algos: list[str], steps: int, blocks: int) -> dict[str, dict[str, float]]:
    """Median optimizer-step time (generation + loss + backward) of baseline vs DyCo per algorithm.

    Both run the real `python -m dyco_repro.train` trainer on the tiny world, same seed and data,
    in alternating blocks (ABBA); the first step of each block is warm-up and not counted. The
    learning rate is 0 (backward and optimizer step still run): otherwise DyCo's different updates
    make the two variants sample completions of different lengths, and step time follows length.
    """
    import tempfile
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from .train import build_trainer, load_data, plan_run

    conf = str(Path(__file__).resolve().parents[1] / "conf")
    results = {}
    with tempfile.TemporaryDirectory() as out, initialize_config_dir(config_dir=conf, version_base="1.3"):
        for algo in algos:
            times: dict[str, list[float]] = {"baseline": [], "dyco": []}
            hook_times: list[float] = [0.0]  # seconds inside the capture, all DyCo steps together
            for block in range(blocks):
                for method in ("baseline", "dyco") if block % 2 == 0 else ("dyco", "baseline"):
                    overrides = [
                        "profile=tiny",
                        f"algo={algo}",
                        f"method={method}",
                        f"output_root={out}",
                        f"train.max_steps={steps + 1}",
                        "train.learning_rate=0.0",
                        "train.logging_steps=1",
                        "train.save_steps=1000000",
                    ]
                    plan = plan_run(compose("config", overrides=overrides))
                    trainer, _ = build_trainer(plan, load_data(plan))
                    with _timed_hooks(hook_times):
                        trainer.train()
                    logged = [e["step_time"] for e in trainer.state.log_history if "step_time" in e]
                    times[method] += logged[1:]
            base, dyco = statistics.median(times["baseline"]), statistics.median(times["dyco"])
            hook_s = hook_times[0] / (blocks * (steps + 1))  # per DyCo step (baseline never enters the hooks)
            results[algo] = {
                "baseline_step_s": round(base, 5),
                "dyco_step_s": round(dyco, 5),
                "ratio": round(dyco / base, 4),
                "dyco_hook_s": round(hook_s, 5),
                "hook_ratio": round(1 + hook_s / base, 4),
            }
    return results


def print_train_table(results: dict[str, dict[str, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Training step: baseline vs DyCo (median s, tiny world)")
    for column in ("algo", "baseline s", "dyco s", "ratio", "capture s/step", "hooks ×"):
        table.add_column(column, justify="right")
    for algo, r in results.items():
        cells = (r["baseline_step_s"], r["dyco_step_s"], r["ratio"], r["dyco_hook_s"], r["hook_ratio"])
        table.add_row(algo, *(f"{value:.4f}" for value in cells))
    Console(stderr=True).print(table)


def print_table(results: dict[str, dict[str, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="DyCo signal capture vs plain forward vs eager output_attentions (median s)")
    for column in (
        "shape",
        "forward s",
        "capture s",
        "eager s",
        "capture ×",
        "hooks ×",
        "eager ×",
        "capture +MB",
        "eager +MB",
    ):
        table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['forward_s']:.4f}",
            f"{r['capture_s']:.4f}",
            f"{r['eager_all_layers_s']:.4f}",
            f"{r['capture_overhead_ratio']:.3f}",
            f"{r['capture_hook_ratio']:.3f}",
            f"{r['eager_overhead_ratio']:.3f}",
            f"{r['capture_extra_peak_mb']:.1f}",
            f"{r['eager_extra_peak_mb']:.1f}",
        )
    Console(stderr=True).print(table)


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments as one line, exit 2 (argparse prints its usage too): `fail` for the checks here, whose
    messages name the fix; `error` (argparse's own, e.g. an invalid choice) points to --help."""

    def error(self, message: str):
        self.fail(f"{message}; see {self.prog} --help")

    def fail(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m dyco_repro.bench", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    signal = sub.add_parser("signal", help="capture overhead vs a plain forward and vs eager all-layer attention")
    signal.add_argument("--shapes", default="tiny,mid", help=f"comma-separated, from {sorted(SHAPES)}")
    signal.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    signal.add_argument("--dtype", default=None, help="float32 on CPU, bfloat16 on CUDA by default")
    signal.add_argument("--repeats", type=int, default=5)
    train = sub.add_parser("train", help="baseline vs DyCo training-step time per algorithm (tiny world)")
    train.add_argument("--algos", default="grpo,dapo,gspo,sapo,rloo,ppo", help="comma-separated algo config names")
    train.add_argument("--steps", type=int, default=6, help="measured steps per block")
    train.add_argument("--blocks", type=int, default=4, help="alternating baseline/DyCo blocks (ABBA)")
    evaluation = sub.add_parser("eval", help="sharded evaluation: 1 vs N processes, items/s (tiny world, CPU)")
    evaluation.add_argument("--processes", default="1,2", help="comma-separated process counts; the first is the base")
    evaluation.add_argument("--n", type=int, default=96, help="items per synthetic benchmark (eval.synthetic_n)")
    evaluation.add_argument("--batch-size", type=int, default=4, help="eval.batch_size")
    evaluation.add_argument("--repeats", type=int, default=2, help="runs per process count, interleaved (ABBA)")
    args = parser.parse_args(argv)
    if args.command == "train":
        return _main_train(parser, args)
    if args.command == "eval":
        return _main_eval(parser, args)

    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown or not shapes:
        parser.fail(f"unknown shape(s) {unknown}; choose from {sorted(SHAPES)}")
    if not DEVICE.fullmatch(args.device):
        parser.fail(f"--device {args.device}: use cpu or cuda")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.fail("--device cuda but no CUDA device is visible; use --device cpu")
    if args.repeats < 1:
        parser.fail("--repeats must be at least 1")
    dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    if not isinstance(getattr(torch, dtype, None), torch.dtype):
        parser.fail(f"--dtype {dtype} is not a torch dtype; use float32, bfloat16 or float16")

    results = {}
    for name in shapes:
        print(f"[bench signal] {name} on {args.device} ({dtype}) ...", file=sys.stderr, flush=True)
        results[name] = bench_signal(name, args.device, dtype, args.repeats)
    print_table(results)
    headline = results[shapes[-1]]
    print(json.dumps({"shape": shapes[-1], "device": args.device, "dtype": dtype, **headline, "shapes": results}))
    return 0


def _main_train(parser: OneLineParser, args: argparse.Namespace) -> int:
    from pathlib import Path

    available = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "algo").glob("*.yaml"))
    algos = [a.strip() for a in args.algos.split(",") if a.strip()]
    unknown = [a for a in algos if a not in available]
    if unknown or not algos:
        parser.fail(f"unknown algo(s) {unknown}; choose from {available}")
    if args.steps < 1 or args.blocks < 1:
        parser.fail("--steps and --blocks must be at least 1")
    results = bench_train(algos, args.steps, args.blocks)
    print_train_table(results)
    print(json.dumps(results))
    return 0


# ---- eval: data-parallel evaluation, 1 vs N processes ---------------------------------------------------


def eval_run(processes: int, output_root: str, n: int, batch_size: int) -> dict[str, float]:
    """One fresh `python -m dyco_repro.evaluate profile=tiny checkpoint=base` on the synthetic suite as
    `processes` CPU processes of one thread each (`accelerate launch` with configs/accelerate/cpu_gloo.yaml
    when more than one). Items and generation seconds come from its results.json (`generation_seconds`:
    the slowest process's generation loop, model loading excluded); wall seconds include start-up,
    loading and scoring. Raises RuntimeError when the evaluation fails."""
    import os
    import socket
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    args = ["profile=tiny", "checkpoint=base", f"output_root={output_root}", f"eval.synthetic_n={n}"]
    args.append(f"eval.batch_size={batch_size}")
    if processes == 1:
        cmd = [sys.executable, "-m", "dyco_repro.evaluate", *args]
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = repo / "configs" / "accelerate" / "cpu_gloo.yaml"
        launch = ["--config_file", str(config), "--num_processes", str(processes), "--main_process_port", str(port)]
        cmd = [sys.executable, "-m", "accelerate.commands.launch", *launch, "-m", "dyco_repro.evaluate", *args]
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=repo)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{processes} process(es): evaluation failed: {done.stderr.strip().splitlines()[-1:]}")
    (results,) = Path(output_root, "eval").glob("*/results.json")
    entries = json.loads(results.read_text())["benchmarks"].values()
    return {
        "items": sum(e["generated"] for e in entries),
        "generation_s": sum(e["generation_seconds"] for e in entries),
        "wall_s": wall,
    }


def bench_eval(process_counts: list[int], n: int, batch_size: int, repeats: int) -> dict[str, dict[str, float]]:
    """Median items/s of the generation and of the whole run per process count, runs interleaved
    (ABBA) so load from elsewhere on the machine falls on every count alike; speed-ups against the first."""
    import tempfile

    from .tiny.warmstart import ensure_warm_start

    ensure_warm_start("s")  # checkpoint=base: built once here, not timed inside a run
    runs: dict[int, list[dict[str, float]]] = {p: [] for p in process_counts}
    for repeat in range(repeats):
        for processes in process_counts if repeat % 2 == 0 else process_counts[::-1]:
            print(f"[bench eval] {processes} process(es), run {repeat + 1}/{repeats} ...", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory() as out:
                runs[processes].append(eval_run(processes, out, n, batch_size))
    results = {}
    for processes, measured in runs.items():
        results[str(processes)] = {
            "items": measured[0]["items"],
            "generation_items_per_s": round(statistics.median(r["items"] / r["generation_s"] for r in measured), 3),
            "wall_items_per_s": round(statistics.median(r["items"] / r["wall_s"] for r in measured), 3),
            "wall_s": round(statistics.median(r["wall_s"] for r in measured), 2),
        }
    base = results[str(process_counts[0])]
    for r in results.values():
        r["generation_speedup"] = round(r["generation_items_per_s"] / base["generation_items_per_s"], 3)
        r["wall_speedup"] = round(r["wall_items_per_s"] / base["wall_items_per_s"], 3)
    return results


def print_eval_table(results: dict[str, dict[str, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Sharded evaluation, tiny world on CPU, one thread per process (median)")
    for column in ("processes", "items", "gen items/s", "gen speed-up", "wall items/s", "wall speed-up", "wall s"):
        table.add_column(column, justify="right")
    for processes, r in results.items():
        cells = (r["generation_items_per_s"], r["generation_speedup"], r["wall_items_per_s"], r["wall_speedup"])
        table.add_row(processes, str(r["items"]), *(f"{value:.3f}" for value in cells), f"{r['wall_s']:.1f}")
    Console(stderr=True).print(table)


def _main_eval(parser: OneLineParser, args: argparse.Namespace) -> int:
    import os

    try:
        counts = [int(p) for p in args.processes.split(",") if p.strip()]
    except ValueError:
        parser.fail(f"--processes {args.processes}: give comma-separated integers, e.g. 1,2")
    if not counts or min(counts) < 1 or len(set(counts)) != len(counts):
        parser.fail(f"--processes {args.processes}: give distinct counts >= 1, e.g. 1,2")
    if args.n < 1 or args.batch_size < 1 or args.repeats < 1:
        parser.fail("--n, --batch-size and --repeats must be at least 1")
    results = bench_eval(counts, args.n, args.batch_size, args.repeats)
    print_eval_table(results)
    machine = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    print(json.dumps({"n": args.n, "batch_size": args.batch_size, "repeats": args.repeats, **machine, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
