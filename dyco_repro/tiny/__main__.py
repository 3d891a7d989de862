"""python -m dyco_repro.tiny build --size s|m --out DIR | data --out DIR --n N"""

from __future__ import annotations

import argparse
import sys

from .data import write_dataset
from .model import SIZES, build_tiny_model, is_built


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
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            if is_built(args.out, args.size, args.seed):
                print(f"{args.out}: tiny-{args.size} (seed {args.seed}) already built")
            else:
                print(
                    f"built tiny-{args.size} (seed {args.seed}) at {build_tiny_model(args.size, args.out, args.seed)}"
                )
        else:
            path = write_dataset(args.out, args.n, args.seed)
            print(f"{args.n} synthetic samples at {path / 'train.jsonl'}")
    except (ValueError, FileExistsError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
