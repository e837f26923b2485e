"""``ipfs-accel models``: the architecture families and the model types in each."""

from __future__ import annotations

import argparse
import json


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--family", help="only this family")
    parser.add_argument("--cached", action="store_true",
                        help="what the local Hugging Face cache holds and what each entry resolves to")


def run(args: argparse.Namespace) -> int:
    from generators.families import FAMILIES, known_model_types
    from generators.resolve import NAME_TABLE
    from pytest_ipfs_accel.cli import CommandError

    if args.cached:
        from pytest_ipfs_accel.commands import cached

        return cached.run(args)
    if args.family is not None and args.family not in FAMILIES:
        raise CommandError(f"unknown family {args.family!r}; choose one of: {', '.join(FAMILIES)}")
    families = known_model_types()
    if args.family is not None:
        families = {args.family: families[args.family]}
    if args.json:
        print(json.dumps({"families": families, "model_ids": NAME_TABLE}, indent=2))
        return 0
    for family, types in families.items():
        print(f"{family} ({len(types)}):")
        print("  " + ", ".join(types))
    total = sum(len(t) for t in families.values())
    print(f"\n{total} model types; also known by id: {', '.join(sorted(NAME_TABLE))}")
    return 0
