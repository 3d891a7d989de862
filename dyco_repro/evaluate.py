"""python -m dyco_repro.evaluate checkpoint=<dir>|base benchmarks=table1 judge=auto [profile=tiny] [force=true]

One checkpoint x a benchmark suite through VLMEvalKit: our batched HF generation over each
dataset's own prompts, VLMEvalKit's own scoring, one results JSON per checkpoint. Cached
predictions make an interrupted evaluation resume; `force=true` re-scores. `checkpoint=base`
evaluates the configured base model (Table 1's Zero-Shot row). Bad input: one line, exit 2.

Data-parallel under a launcher (`accelerate launch [--num_processes N] -m dyco_repro.evaluate ...`
or `torchrun`): each process generates a disjoint share of every benchmark, rank 0 merges the
shares in the dataset's order, scores once and writes the results once.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from .cli import check_output_dir, check_setting, model_dir_problem, one_line_errors, resolve_model_dir, run_main
from .evaluation.judge import Judge, check_policy, choose_judge
from .evaluation.results import RESULTS_FILE, SCHEMA, checkpoint_fingerprint, load_results, save_results, sub_metrics
from .evaluation.sharding import Processes, join_processes, launched_world
from .evaluation.suite import Benchmark, EvalError, resolve_benchmarks


@dataclass
class EvalPlan:
    checkpoint: Path
    benchmarks: list[Benchmark]
    roots: dict[str, Path]  # benchmark key -> the LMUData folder holding its TSV
    judges: dict[str, Judge]
    generation: Any  # GenerationSettings
    output_dir: Path
    force: bool
    dtype: str
    attn_implementation: str
    lm_eval: dict[str, Any]


def check_eval_config(
    cfg: DictConfig, build: bool = True
) -> tuple[list[Benchmark], dict[str, Path | None], dict[str, Judge]]:
    """Benchmarks, data folders and judges for the config; raises EvalError. Writes nothing but, when
    `build`, the tiny world's synthetic benchmarks (without `build` their folder is None, unchecked)."""
    from .evaluation.datasets import check_tsv, lmudata_root, warn_unofficial

    ev = cfg.eval
    benchmarks = resolve_benchmarks(_plain(cfg.benchmarks), _plain(ev.datasets) or {})
    check_policy(cfg.judge)
    for key in ("eval.batch_size", "eval.max_new_tokens"):
        check_setting(cfg, key, int, minimum=1)
    check_backend(ev.backend)
    roots: dict[str, Path | None] = {}
    for bench in benchmarks:
        # the tiny world's benchmarks: the cached set of eval.synthetic_n questions, unless eval.lmudata names
        # a folder (`python -m dyco_repro.tiny bench --out <folder>` writes one)
        if bench.key.startswith("Synth_") and ev.lmudata is None:
            check_setting(cfg, "eval.synthetic_n", int, minimum=1)
            roots[bench.key] = synthetic_root(ev.synthetic_n) if build else None
        else:
            roots[bench.key] = lmudata_root(ev.lmudata)
        if roots[bench.key] is not None:
            check_tsv(bench, roots[bench.key])
            if build:  # the evaluation itself (not a sweep's preflight) says it once per benchmark
                warn_unofficial(bench, roots[bench.key])
    judges = {b.key: choose_judge(cfg.judge, b, ev.judge_model, ev.judge_nproc) for b in benchmarks}
    return benchmarks, roots, judges


def _plain(value: Any) -> Any:
    return OmegaConf.to_object(value) if OmegaConf.is_config(value) else value


def check_backend(backend: str) -> None:
    if backend not in ("hf", "vlmeval"):
        raise EvalError(f"eval.backend={backend} is not a backend; use eval.backend=hf (ours) or vlmeval (Qwen2VLChat)")
    if backend == "vlmeval":
        import torch

        if not torch.cuda.is_available():
            raise EvalError(
                "eval.backend=vlmeval runs VLMEvalKit's Qwen2VLChat, which needs a CUDA GPU; use eval.backend=hf"
            )


def check_launch(backend: str, world: int) -> None:
    """Raises EvalError for a launch the backend cannot shard."""
    if backend == "vlmeval" and world > 1:
        raise EvalError(
            f"eval.backend=vlmeval spreads one model over every visible GPU (Qwen2VLChat's device_map=auto), so it "
            f"cannot run as {world} processes; run it as one process, or use eval.backend=hf under accelerate launch"
        )


def synthetic_root(n: int) -> Path:
    from .tiny.benchmarks import write_benchmarks
    from .tiny.model import cache_dir

    return write_benchmarks(cache_dir() / f"lmudata_n{n}", n)


def resolve_checkpoint(cfg: DictConfig, build: bool = True) -> Path | None:
    """The checkpoint to evaluate: a model directory, or `base` for the configured model (a tiny-world
    one is built when `build`, else None). Raises EvalError or ConfigError naming the fix."""
    if cfg.checkpoint in (None, ""):
        raise EvalError("no checkpoint: set checkpoint=<dir with config.json> (e.g. a run's final/) or checkpoint=base")
    if cfg.checkpoint == "base":
        return resolve_model_dir(cfg, build=build)
    path = Path(str(cfg.checkpoint)).expanduser()
    problem = model_dir_problem(path)
    if problem == "no config.json":
        raise EvalError(f"checkpoint={cfg.checkpoint}: no config.json there; point checkpoint= at a model directory")
    if problem:
        raise EvalError(f"checkpoint={cfg.checkpoint}: {problem} there; finish or copy the model")
    return path.resolve()


def default_output_dir(output_root: str, checkpoint: Path) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(checkpoint.parts[-2:]))
    return Path(output_root) / "eval" / f"{slug}-{hashlib.sha256(str(checkpoint).encode()).hexdigest()[:8]}"


def plan_evaluation(cfg: DictConfig) -> EvalPlan:
    from .evaluation.inference import GenerationSettings

    ev = cfg.eval
    check_setting(cfg, "force", bool)
    check_output_dir(*(("eval.output_dir", ev.output_dir) if ev.output_dir else ("output_root", cfg.output_root)))
    resolve_checkpoint(cfg, build=False)  # checked before the benchmarks; built (tiny world) after them
    benchmarks, roots, judges = check_eval_config(cfg)
    if ev.lm_eval.tasks:  # an unknown task fails here, before any benchmark is evaluated
        from .evaluation.lm_eval_adapter import check_tasks

        check_tasks(list(ev.lm_eval.tasks), ev.lm_eval.include_path)
    checkpoint = resolve_checkpoint(cfg)
    generation = GenerationSettings(
        max_new_tokens=ev.max_new_tokens,
        batch_size=ev.batch_size,
        min_pixels=ev.min_pixels,
        max_pixels=ev.max_pixels,
        instruction=ev.instruction,
        extract_answer_tag=ev.extract_answer_tag,
        backend=ev.backend,
    )
    return EvalPlan(
        checkpoint=checkpoint,
        benchmarks=benchmarks,
        roots=roots,
        judges=judges,
        generation=generation,
        output_dir=Path(ev.output_dir) if ev.output_dir else default_output_dir(cfg.output_root, checkpoint),
        force=cfg.force,
        dtype=cfg.model.dtype,
        attn_implementation=cfg.model.attn_implementation,
        lm_eval=OmegaConf.to_object(ev.lm_eval),
    )


def run_evaluation(plan: EvalPlan, processes: Processes | None = None) -> dict[str, Any] | None:
    """Evaluate every benchmark (reusing finished ones), write and return the results (None off rank 0).

    One process: each benchmark is generated, scored and saved in turn. Under a launcher every process
    generates its share of every benchmark first; rank 0 then merges, scores (the judge runs once per
    item, on rank 0 only) and saves, while the others are done and their accelerators free.
    """
    from .evaluation.datasets import build_dataset
    from .evaluation.inference import PredictionCache, make_generator, predict

    procs = processes or Processes()
    results_path = plan.output_dir / RESULTS_FILE
    fingerprint = checkpoint_fingerprint(plan.checkpoint)
    previous = None if plan.force or not procs.is_main else load_results(results_path)
    results = {
        "schema": SCHEMA,
        "checkpoint": str(plan.checkpoint),
        "checkpoint_fingerprint": fingerprint,
        "benchmarks": {},
    }
    identities = {b.key: _identity(b, plan, fingerprint) for b in plan.benchmarks}
    reused = {
        key: old
        for key, identity in identities.items()
        if (old := (previous or {}).get("benchmarks", {}).get(key)) is not None and old["identity"] == identity
    }
    reused_keys = procs.broadcast(list(reused))
    generator = None

    def generate():
        nonlocal generator
        if generator is None:
            device = procs.device()
            generator = make_generator(plan.checkpoint, plan.generation, plan.dtype, plan.attn_implementation, device)
        return generator

    scoring: list[tuple[Benchmark, None, Any, float]] = []
    for bench in plan.benchmarks:
        if bench.key in reused_keys:
            if procs.is_main:
                results["benchmarks"][bench.key] = reused[bench.key]
                print(f"{bench.key}: {_shown(reused[bench.key])} (cached)")
            continue
        start = time.perf_counter()
        dataset = build_dataset(bench, plan.roots[bench.key])
        if procs.rank > 0 and "image" in dataset.data.columns:
            # VLMEvalKit writes each item's image file on first use, not atomically: a process of its own
            # folder never reads an image another process is still writing.
            dataset.img_root = str(Path(dataset.img_root) / f"rank{procs.rank}")
        predictions_identity = {k: v for k, v in identities[bench.key].items() if k != "judge"}  # judge-free
        cache = PredictionCache(plan.output_dir / bench.key, predictions_identity, procs.rank)
        run = predict(dataset, generate, cache, plan.generation.batch_size, bench.key, procs)
        if not procs.is_main:
            continue
        if procs.distributed:
            # Scored after every benchmark is generated, so no process waits for the judge; the dataset
            # (images and all) is read again then rather than held for every benchmark at once.
            scoring.append((bench, None, run, time.perf_counter() - start))
        else:
            _finish(plan, results, results_path, procs, bench, dataset, run, time.perf_counter() - start)
    for job in scoring:
        _finish(plan, results, results_path, procs, *job)
    if not procs.is_main:
        return None
    if plan.lm_eval.get("tasks"):
        results["lm_eval"] = _lm_eval(plan, generator, previous, fingerprint, procs)
    save_results(results_path, results)
    return results


def _identity(bench: Benchmark, plan: EvalPlan, fingerprint: str) -> dict[str, Any]:
    """What a cached result or prediction is valid for: the same items (the TSV file, by path, size and
    modification time: another `eval.lmudata` or `eval.synthetic_n` is other data), model, decoding, judge."""
    tsv = Path(plan.roots[bench.key] or ".") / f"{bench.dataset}.tsv"
    stat = tsv.stat() if tsv.is_file() else None
    return {
        "dataset": bench.dataset,
        "data": {"tsv": str(tsv.resolve()), "bytes": stat and stat.st_size, "mtime_ns": stat and stat.st_mtime_ns},
        "checkpoint_fingerprint": fingerprint,
        "generation": plan.generation.as_dict(),
        "judge": plan.judges[bench.key].name,
    }


def _finish(plan: EvalPlan, results: dict, results_path: Path, procs: Processes, bench, dataset, run, seconds) -> None:
    """Rank 0: the merged prediction file, its score and the benchmark's entry, saved at once."""
    from .evaluation.datasets import build_dataset, official_data
    from .evaluation.inference import write_prediction_file
    from .evaluation.items import record_items
    from .evaluation.scoring import score
    from .images import items_needing_fit

    start = time.perf_counter()
    dataset = dataset or build_dataset(bench, plan.roots[bench.key])
    judge = plan.judges[bench.key]
    folder = plan.output_dir / bench.key
    pred_file = write_prediction_file(dataset, run.predictions, plan.generation, folder / f"dyco_{bench.dataset}.tsv")
    value, raw = score(dataset, bench, judge, pred_file, fresh=plan.force or run.generated > 0)
    metrics = sub_metrics(raw, bench) | ({bench.score_name: value} if value is not None else {})
    entry = {
        "benchmark": bench.key,
        "dataset": bench.dataset,
        "group": bench.group,
        "score": value,
        "raw": raw,
        "items": record_items(bench, judge.name, pred_file),  # per-item scores for the paired statistics
        "judge": judge.name,
        "official": judge.official,
        "official_data": official_data(bench, plan.roots[bench.key]),
        "metrics": metrics,
        "judge_endpoint": judge.endpoint,
        "n": len(dataset),
        "images_adjusted": items_needing_fit(dataset),  # padded to a size Qwen2.5-VL accepts
        "generated": run.generated,
        "processes": procs.world,
        "generated_per_process": run.generated_per_process,
        "generation_seconds": run.seconds,
        "seconds": seconds + time.perf_counter() - start,
        "samples_per_s": run.generated / run.seconds if run.generated and run.seconds > 0 else None,
        "generation": plan.generation.as_dict(),
        "checkpoint": str(plan.checkpoint),
        "identity": _identity(bench, plan, results["checkpoint_fingerprint"]),
    }
    done = results["benchmarks"] | {bench.key: entry}
    results["benchmarks"] = {b.key: done[b.key] for b in plan.benchmarks if b.key in done}  # the suite's order
    save_results(results_path, results)  # progress survives an interruption
    print(f"{bench.key}: {_shown(entry)}")


def _lm_eval(plan: EvalPlan, generator, previous: dict | None, fingerprint: str, procs: Processes) -> dict[str, Any]:
    """lm-evaluation-harness on rank 0 (not sharded)."""
    from .evaluation.inference import make_generator
    from .evaluation.lm_eval_adapter import run_lm_eval

    settings = {k: plan.lm_eval.get(k) for k in ("tasks", "include_path", "limit")}
    old = (previous or {}).get("lm_eval")
    if old and old.get("settings") == settings and old.get("checkpoint_fingerprint") == fingerprint:
        return old
    generator = generator or make_generator(
        plan.checkpoint, plan.generation, plan.dtype, plan.attn_implementation, procs.device()
    )
    out = run_lm_eval(
        generator.model,
        generator.processor.tokenizer,
        list(settings["tasks"]),
        settings["include_path"],
        settings["limit"],
        plan.lm_eval.get("batch_size", 8),
    )
    return out | {"settings": settings, "checkpoint_fingerprint": fingerprint}


def _shown(entry: dict) -> str:
    if entry["score"] is None:
        return f"not judged (needs an LLM judge: set OPENAI_API_KEY/OPENAI_API_BASE, or judge=rule), n={entry['n']}"
    return f"{entry['score']:.1f} [{entry['judge']}], n={entry['n']}"


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from .data import DataError

    processes = None
    try:
        with one_line_errors(EvalError, DataError):
            plan = plan_evaluation(cfg)
            check_launch(plan.generation.backend, launched_world())
            processes = join_processes()
            run_evaluation(plan, processes)
    finally:
        if processes is not None:
            processes.close()
    if not processes.is_main:
        return
    print(f"results: {plan.output_dir / RESULTS_FILE}")
    print(json.dumps({k: v["score"] for k, v in load_results(plan.output_dir / RESULTS_FILE)["benchmarks"].items()}))


if __name__ == "__main__":
    run_main(main)
