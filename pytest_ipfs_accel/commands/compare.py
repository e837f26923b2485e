"""``ipfs-accel compare BASE HEAD``: benchmark changes between two recorded runs.

Exit status: 0 when no case regressed, 1 when at least one case is a
statistically significant regression beyond ``--fail-threshold`` (see
:mod:`pytest_ipfs_accel.bench.compare`), 2 for bad input.

``ipfs-accel compare RUN --backends A,B`` puts two backends of one run side by
side instead (:mod:`pytest_ipfs_accel.bench.backends`); it judges nothing, so it
exits 0.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_ipfs_accel import store
from pytest_ipfs_accel.bench import compare
from pytest_ipfs_accel.bench.threshold import Threshold, parse_threshold
from pytest_ipfs_accel.cli import CommandError
from pytest_ipfs_accel.merge import open_reader
from pytest_ipfs_accel.options import DEFAULT_DB


def _threshold(text: str) -> Threshold:
    try:
        return parse_threshold(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a probability in (0, 1), got {text}")
    return value


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "base", metavar="BASE",
        help="baseline run: a run id (or unique prefix), latest or previous; or latest:N, the N latest "
        "runs with benchmarks other than HEAD, pooled",
    )
    parser.add_argument(
        "head", metavar="HEAD", nargs="?",
        help="run to judge: a run id (or unique prefix), latest or previous (not with --backends)",
    )
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"DuckDB file (default: {DEFAULT_DB})")
    parser.add_argument(
        "--fail-threshold", type=_threshold, default=Threshold(compare.DEFAULT_THRESHOLD_PCT), metavar="PCT",
        help="a significant slowdown of both the median and the minimum beyond PCT percent (10 or 10%%) "
        "is a regression; STAT:PCT (min:10%%, median:10%%, p90:10%%) judges that statistic alone "
        f"(default {compare.DEFAULT_THRESHOLD_PCT:g}%%)",
    )
    parser.add_argument(
        "--alpha", type=_probability, default=compare.DEFAULT_ALPHA, metavar="P",
        help=f"significance level of the Mann-Whitney U test (default {compare.DEFAULT_ALPHA:g})",
    )
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    parser.add_argument(
        "--backends", metavar="A,B",
        help="compare backend B with backend A within the one run BASE names (e.g. cpu,openvino): "
        "median ratio, its bootstrap interval, Mann-Whitney U significance",
    )


def _backend_pair(text: str) -> tuple[str, str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise CommandError(f"--backends={text}: name two different backends, e.g. --backends cpu,openvino")
    return names[0], names[1]


def run_backends(args: argparse.Namespace) -> int:
    """Two backends of one run side by side."""
    from pytest_ipfs_accel.bench import backends

    if args.head is not None:
        raise CommandError("--backends compares two backends of ONE run: name one run, not BASE and HEAD")
    base_backend, head_backend = _backend_pair(args.backends)
    con = open_reader(args.db)  # merges pending spools first, waits out a brief holder
    try:
        run_id = store.resolve_run_id(con, args.base)
        cases = compare.load_cases(con, run_id)
    finally:
        con.close()
    found = {c.hardware for c in cases.values()}
    missing = [b for b in (base_backend, head_backend) if b not in found]
    if missing:
        raise CommandError(
            f"run {run_id} has no benchmark results on {', '.join(missing)}; "
            f"it has: {', '.join(sorted(h for h in found if h)) or 'none'}"
        )
    comparisons = backends.compare_backends(cases, base_backend, head_backend, alpha=args.alpha)
    print(backends.render(comparisons, args.format, run_id=run_id, alpha=args.alpha))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.backends is not None:
        return run_backends(args)
    if args.head is None:
        raise CommandError("name two runs, BASE and HEAD (or one run with --backends A,B)")
    con = open_reader(args.db)  # merges pending spools first, waits out a brief holder
    try:
        head_id = store.resolve_run_id(con, args.head)
        if compare.pool_size(args.base) is not None:
            base_ids = compare.resolve_baseline(con, args.base, exclude=head_id)
            if not base_ids:
                raise CommandError(f"{args.base}: no run with benchmarks other than {head_id}")
        else:
            base_ids = [store.resolve_run_id(con, args.base)]
        base_id = compare.baseline_label(args.base, base_ids)
        if base_ids == [head_id]:
            raise CommandError(f"BASE and HEAD are the same run ({head_id}); name two different runs")
        base = compare.load_baseline(con, base_ids)
        head = compare.load_cases(con, head_id)
    finally:
        con.close()
    if not base and not head:
        raise CommandError(f"neither run {base_id} nor run {head_id} has benchmark results")
    threshold: Threshold = args.fail_threshold
    comparisons = compare.compare_cases(base, head, threshold_pct=threshold.pct, alpha=args.alpha,
                                        statistic=threshold.statistic)
    print(
        compare.render(
            comparisons, args.format, base=base_id, head=head_id,
            threshold_pct=threshold.pct, alpha=args.alpha,
        )
    )
    return 1 if compare.regressions(comparisons) else 0
