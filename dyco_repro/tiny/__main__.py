"""python -m dyco_repro.tiny build --size s|m --out DIR | data --out DIR --n N | warmstart --size s|m [--out DIR]
| bench --out DIR [--n N]"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .benchmarks import DEFAULT_N, write_benchmarks
from .data import write_dataset
from .model import SIZES, build_tiny_model, ensure_tiny_model, is_built
from .warmstart import build_warm_start, is_warm_started, warm_start_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dyco_repro.tiny", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build a tiny random Qwen2.5-VL checkpoint (model, tokenizer, processor)")
    build.add_argument("--size", required=True, choices=sorted(SIZES))
    build.add_argument("--out", required=True)
    build.add_argument("--seed", type=int, default=0)
    data = sub.add_parser("data", help="write a synthetic visual-reasoning set (released JSONL format + PNGs)")
    data.add_argument("--out", required=True)
    data.add_argument("--n", type=int, required=True)
    data.add_argument("--seed", type=int, default=0)
    warm = sub.add_parser("warmstart", help="SFT-warm-start a tiny checkpoint on the reward format (cached)")
    warm.add_argument("--size", required=True, choices=sorted(SIZES))
    warm.add_argument("--out", help="checkpoint directory (default: the cached tiny_<size>_seed<seed>_sft)")
    warm.add_argument("--seed", type=int, default=0)
    bench = sub.add_parser("bench", help="write the synthetic benchmarks as VLMEvalKit TSVs into an $LMUData folder")
    bench.add_argument("--out", required=True)
    bench.add_argument("--n", type=int, default=DEFAULT_N)
    bench.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            if is_built(args.out, args.size, args.seed):
                print(f"{args.out}: tiny-{args.size} (seed {args.seed}) already built")
            else:
                print(
                    f"built tiny-{args.size} (seed {args.seed}) at {build_tiny_model(args.size, args.out, args.seed)}"
                )
        elif args.command == "warmstart":
            what = f"warm-started tiny-{args.size} (seed {args.seed})"
            base = ensure_tiny_model(args.size, seed=args.seed)
            out = Path(args.out) if args.out else warm_start_dir(args.size, seed=args.seed)
            if is_warm_started(out, base, args.size, args.seed):
                print(f"{out}: {what} already built")
            else:
                print(f"built {what} at {build_warm_start(base, out, args.size, args.seed)}")
        elif args.command == "bench":
            path = write_benchmarks(args.out, args.n, args.seed)
            counts = f"Synth_MCQ ({args.n}), Synth_MME ({2 * args.n}: yes/no pairs), Synth_Math ({args.n})"
            print(f"{counts} in {path}; set LMUData={path}")
        else:
            path = write_dataset(args.out, args.n, args.seed)
            print(f"{args.n} synthetic samples at {path / 'train.jsonl'}")
    except (ValueError, FileExistsError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
