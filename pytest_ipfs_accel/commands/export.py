"""``ipfs-accel export``: a recorded run's benchmarks as pytest-benchmark JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_ipfs_accel import store
from pytest_ipfs_accel.bench import pbjson
from pytest_ipfs_accel.cli import CommandError
from pytest_ipfs_accel.merge import open_reader
from pytest_ipfs_accel.options import DEFAULT_DB


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"DuckDB file (default: {DEFAULT_DB})")
    parser.add_argument("--run", default="latest", metavar="ID", help="run id (or unique prefix), latest or previous (default: latest)")
    parser.add_argument(
        "--format", choices=("pytest-benchmark",), default="pytest-benchmark",
        help="output format (pytest-benchmark JSON, readable by `pytest-benchmark compare`)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write, - for stdout")


def run(args: argparse.Namespace) -> int:
    con = open_reader(args.db)  # merges pending spools first, waits out a brief holder
    try:
        run_id = store.resolve_run_id(con, args.run)
        doc = pbjson.from_run(con, run_id)
    finally:
        con.close()
    if not doc["benchmarks"]:
        raise CommandError(f"run {run_id} has no benchmark results to export")
    try:
        pbjson.write(doc, args.output)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    if args.output != "-":
        import sys

        print(f"wrote {len(doc['benchmarks'])} benchmark(s) of run {run_id} to {args.output}", file=sys.stderr)
    return 0
