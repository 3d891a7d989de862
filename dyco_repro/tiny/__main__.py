"""python -m dyco_repro.tiny build --size s|m --out DIR | data --out DIR --n N | warmstart --size s|m [--out DIR]
| bench --out DIR [--n N] | fixtures --out DIR
| build --like qwen2_5_vl_3b|qwen2_5_vl_7b --layers N --vision-depth M --out DIR"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .benchmarks import DEFAULT_N, write_benchmarks
from .data import write_dataset
from .fixtures import FIXTURES, write_fixtures
from .like import LIKE, build_like
from .model import SIZES, build_tiny_model, ensure_tiny_model, is_built
from .warmstart import build_warm_start, is_warm_started, warm_start_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dyco_repro.tiny", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build a tiny random Qwen2.5-VL checkpoint (model, tokenizer, processor)")
    size = build.add_mutually_exclusive_group(required=True)
    size.add_argument("--size", choices=sorted(SIZES))
    size.add_argument("--like", choices=sorted(LIKE), help="a real model's shapes (widths, vocabulary), depth cut")
    build.add_argument("--layers", type=int, help="--like: decoder layers kept")
    build.add_argument("--vision-depth", type=int, help="--like: vision blocks kept")
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
    fixtures = sub.add_parser("fixtures", help="write Table 1's seven benchmarks as small real-format TSVs")
    fixtures.add_argument("--out", required=True)
    fixtures.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "build" and args.like and (args.layers is None or args.vision_depth is None):
        parser.error("build --like needs --layers N and --vision-depth M (the depth kept; widths stay real)")
    if args.command == "build" and not args.like and (args.layers is not None or args.vision_depth is not None):
        parser.error("--layers and --vision-depth go with --like, not --size")

    try:
        if args.command == "build" and args.like:
            out = build_like(args.like, args.out, args.layers, args.vision_depth, args.seed)
            print(f"built {args.like} shapes with {args.layers} layers, vision depth {args.vision_depth} at {out}")
        elif args.command == "fixtures":
            path = write_fixtures(args.out, args.seed)
            print(f"{', '.join(f'{n}.tsv' for n in FIXTURES)} in {path}; evaluate with eval.lmudata={path}")
        elif args.command == "build":
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
            print(f"{counts} in {path}; evaluate on them with eval.lmudata={path}")
        else:
            path = write_dataset(args.out, args.n, args.seed)
            print(f"{args.n} synthetic samples at {path / 'train.jsonl'}")
    except (ValueError, FileExistsError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
