"""``ipfs-accel generate``: write pytest modules for models."""

from __future__ import annotations

import argparse
import sys

from generators import TEST_TYPES
from generators.families import FAMILIES
from generators.generate import generate as write_test_modules


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "models", nargs="+", metavar="MODEL",
        help="a model type (bert), a model id (google-bert/bert-base-uncased) or a checkpoint directory",
    )
    parser.add_argument("--family", choices=FAMILIES, help="force the architecture family")
    parser.add_argument("--test-type", choices=TEST_TYPES, default="basic", help="default: basic")
    parser.add_argument("--out", default=".", help="directory to write test_<name>.py into (default: .)")
    parser.add_argument("--force", action="store_true", help="overwrite existing modules")
    parser.add_argument(
        "--full-size", action="store_true",
        help="build model types at their default (full) size with random weights instead of tiny "
        "configurations: realistic benchmarks, nothing downloaded",
    )


def run(args: argparse.Namespace) -> int:
    results = write_test_modules(
        args.models, args.out, args.test_type, args.family, args.force, args.full_size
    )
    for result in results:
        if result.ok:
            print(f"wrote {result.path} ({result.model_type}, {result.family}, {args.test_type})")
        else:
            print(f"ipfs-accel generate: error: {result.reference}: {result.error}", file=sys.stderr)
    failed = sum(not r.ok for r in results)
    if failed:
        print(f"{failed} of {len(results)} models failed", file=sys.stderr)
    return 1 if failed else 0
