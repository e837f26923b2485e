"""``ipfs-accel report``: a run's results (counts by outcome x hardware, failures), or the run list."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pytest_ipfs_accel import schema, store
from pytest_ipfs_accel.merge import open_reader
from pytest_ipfs_accel.options import DEFAULT_DB

FAILING = ("failed", "error", "xpassed")


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"DuckDB file (default: {DEFAULT_DB})")
    parser.add_argument("--run", default=None, help="run id, unique prefix, latest or previous (default: latest)")
    parser.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--matrix", action="store_true", help="the model x hardware matrix (latest outcome per cell)")
    what.add_argument("--runs", action="store_true", help="list the recorded runs")
    parser.add_argument("--limit", type=int, default=20, help="with --runs: how many (default 20)")


def run(args: argparse.Namespace) -> int:
    con = open_reader(args.db)  # merges pending spools first, waits out a brief holder
    try:
        if args.runs:
            print(_render_runs(list_runs(con, args.limit), args.format))
        elif args.matrix:
            from pytest_ipfs_accel.matrix import build_matrix, render_matrix

            run_id = store.resolve_run_id(con, args.run) if args.run else None
            print(render_matrix(build_matrix(con, run_id), args.format))
        else:
            print(render(build_report(con, store.resolve_run_id(con, args.run)), args.format))
    finally:
        con.close()
    return 0


def list_runs(con, limit: int) -> list[dict[str, Any]]:
    return store.fetch_dicts(
        con,
        """SELECT r.run_id, r.started_at, r.finished_at, r.status, r.exit_status, r.hw_requested,
                  r.xdist_workers, count(t.nodeid) FILTER (WHERE t.subtest IS NULL) AS tests
           FROM runs r LEFT JOIN test_results t USING (run_id)
           GROUP BY ALL ORDER BY r.started_at DESC NULLS LAST LIMIT ?""",
        [limit],
    )


def build_report(con, run_id: str) -> dict[str, Any]:
    """A run's summary as plain data (what every format renders)."""
    run = store.fetch_dicts(con, "SELECT * FROM runs WHERE run_id = ?", [run_id])[0]
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in store.fetch_dicts(
        con,
        """SELECT coalesce(hardware, '-') AS hardware, outcome, count(*) AS n
           FROM test_results WHERE run_id = ? AND subtest IS NULL GROUP BY ALL ORDER BY ALL""",
        [run_id],
    ):
        counts[row["hardware"]][row["outcome"]] = row["n"]
    subtests = dict(
        con.execute(
            "SELECT outcome, count(*) FROM test_results WHERE run_id = ? AND subtest IS NOT NULL GROUP BY ALL",
            [run_id],
        ).fetchall()
    )
    failures = store.fetch_dicts(
        con,
        f"""SELECT nodeid, subtest, outcome, "when", hardware, model, message FROM test_results
            WHERE run_id = ? AND outcome IN ({", ".join("?" * len(FAILING))})
            ORDER BY nodeid, subtest NULLS FIRST""",
        [run_id, *FAILING],
    )
    benchmarks = con.execute(
        "SELECT count(*) FROM benchmark_results WHERE run_id = ?", [run_id]
    ).fetchone()[0]
    return {
        "run_id": run_id,
        "status": run["status"],
        "exit_status": run["exit_status"],
        "started_at": _iso(run["started_at"]),
        "finished_at": _iso(run["finished_at"]),
        "hw_requested": run["hw_requested"],
        "git_commit": run["git_commit"],
        "git_branch": run["git_branch"],
        "git_dirty": run["git_dirty"],
        "host": run["host"],
        "xdist_workers": run["xdist_workers"],
        "hardware": json.loads(run["hardware"]) if run["hardware"] else {},
        "counts": {hw: dict(c) for hw, c in counts.items()},
        "subtests": subtests,
        "failures": failures,
        "benchmarks": benchmarks,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, default=str)
    outcomes = [o for o in schema.OUTCOMES if any(o in c for c in report["counts"].values())]
    header = ["hardware", *outcomes, "total"]
    rows = [
        [hw, *(str(c.get(o, 0)) for o in outcomes), str(sum(c.values()))]
        for hw, c in sorted(report["counts"].items())
    ]
    commit = (report["git_commit"] or "")[:10] + ("+dirty" if report["git_dirty"] else "")
    title = (
        f"run {report['run_id']}  status {report['status']} (exit {report['exit_status']})  "
        f"started {report['started_at']}  --ipfs-hw={report['hw_requested']}"
        + (f"  git {commit}" if commit else "")
    )
    devices = [
        f"{name}: " + (", ".join(d["name"] for d in fp.get("devices", [])) or fp.get("reason", ""))
        for name, fp in report["hardware"].items()
    ]
    subtests = ", ".join(f"{n} {o}" for o, n in sorted(report["subtests"].items()))
    if fmt == "markdown":
        out = [f"### {title}", ""]
        out += _md_table(header, rows) if rows else ["_no test results recorded_"]
        if devices:
            out += ["", "Devices: " + "; ".join(devices)]
        if subtests:
            out += ["", f"Subtests: {subtests}"]
        if report["benchmarks"]:
            out += ["", f"Benchmarks: {report['benchmarks']} cases (see `ipfs-accel compare`)"]
        if report["failures"]:
            out += ["", "#### Failures", ""]
            out += _md_table(
                ["test", "outcome", "hardware", "message"],
                [[_test_name(f), f["outcome"], f["hardware"] or "-", _one_line(f["message"])] for f in report["failures"]],
            )
        return "\n".join(out)
    out = [title, ""]
    out += _text_table(header, rows) if rows else ["no test results recorded"]
    if devices:
        out += ["", "devices: " + "; ".join(devices)]
    if subtests:
        out += [f"subtests: {subtests}"]
    if report["benchmarks"]:
        out += [f"benchmarks: {report['benchmarks']} cases"]
    if report["failures"]:
        out += ["", "failures:"]
        for f in report["failures"]:
            out.append(f"  {f['outcome'].upper():8} {_test_name(f)}")
            for line in (f["message"] or "").splitlines()[:5]:
                out.append(f"           {line}")
    return "\n".join(out)


def _render_runs(runs: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(runs, indent=2, default=str)
    header = ["run_id", "started_at", "status", "exit", "hw", "workers", "tests"]
    rows = [
        [r["run_id"], _iso(r["started_at"]) or "-", r["status"] or "-", str(r["exit_status"]),
         r["hw_requested"] or "-", str(r["xdist_workers"]), str(r["tests"])]
        for r in runs
    ]
    if fmt == "markdown":
        return "\n".join(_md_table(header, rows))
    return "\n".join(_text_table(header, rows)) if rows else "no runs recorded"


def _test_name(failure: dict[str, Any]) -> str:
    return failure["nodeid"] + (f" {failure['subtest']}" if failure["subtest"] else "")


def _one_line(text: str | None) -> str:
    return (text or "").splitlines()[0].replace("|", "\\|")[:200] if text else ""


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    fmt_row = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return [fmt_row(header), fmt_row(["-" * w for w in widths]), *map(fmt_row, rows)]


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]
