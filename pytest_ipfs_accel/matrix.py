"""The model × hardware compatibility matrix, computed from the DuckDB store.

A cell is one (model, backend) pair.  Its outcome is the *latest* one: the
rows of the most recent run that tested that pair (or of the one run asked
for).  Subtest rows are left out: the item's own row already carries its final
outcome, and counting subtests would make a cell's totals depend on how a test
is split.  Rows without a model or a backend are not part of the matrix (they
are not model-on-hardware tests).

The same :class:`Matrix` feeds ``ipfs-accel report --matrix`` (terminal text
or markdown for a CI summary), the facade's ``GET /api/test/matrix`` (JSON)
and the dashboard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hardware_markers.base import BACKENDS

#: Cell statuses, worst first: a cell shows the worst outcome among its tests.
CELL_STATUSES: tuple[str, ...] = ("failed", "error", "passed", "skipped")

#: Test outcome -> the cell status it contributes.  xfailed/xpassed are what
#: the test's author expects or tolerates, so they count as working.
_OUTCOME_TO_STATUS = {
    "failed": "failed",
    "error": "error",
    "passed": "passed",
    "xfailed": "passed",
    "xpassed": "passed",
    "skipped": "skipped",
}

FORMATS: tuple[str, ...] = ("table", "markdown", "json")


@dataclass(frozen=True)
class MatrixTest:
    """One test of a cell, as recorded in ``test_results``."""

    nodeid: str
    outcome: str
    duration_s: float | None
    when: str | None
    message: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "duration_s": self.duration_s,
            "when": self.when,
            "message": self.message,
        }


@dataclass(frozen=True)
class Cell:
    """The latest outcome of one model on one backend."""

    model: str
    hardware: str
    status: str  # one of CELL_STATUSES
    counts: dict[str, int]  # test outcome -> number of tests
    run_id: str
    run_started_at: str | None  # ISO 8601
    tests: tuple[MatrixTest, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def working(self) -> int:
        """Tests that passed (xfailed and xpassed included)."""
        return sum(n for o, n in self.counts.items() if _OUTCOME_TO_STATUS.get(o) == "passed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "hardware": self.hardware,
            "status": self.status,
            "counts": dict(self.counts),
            "total": self.total,
            "working": self.working,
            "run_id": self.run_id,
            "run_started_at": self.run_started_at,
            "tests": [t.to_dict() for t in self.tests],
        }


@dataclass(frozen=True)
class Matrix:
    """Rows are models, columns are backends; ``cells`` maps (model, backend) to a cell."""

    models: tuple[str, ...]
    hardware: tuple[str, ...]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    run_id: str | None = None  # the one run it was built from; None: latest per cell

    def cell(self, model: str, hardware: str) -> Cell | None:
        return self.cells.get((model, hardware))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form: ``{run_id, models, hardware, statuses, cells: [...]}``."""
        return {
            "run_id": self.run_id,
            "models": list(self.models),
            "hardware": list(self.hardware),
            "statuses": list(CELL_STATUSES),
            "cells": [
                self.cells[(m, h)].to_dict()
                for m in self.models
                for h in self.hardware
                if (m, h) in self.cells
            ],
        }


def build_matrix(con, run_id: str | None = None) -> Matrix:
    """The matrix of the store open on ``con``.

    With ``run_id``, only that run's rows count (resolve ``latest``/prefixes
    first with :func:`pytest_ipfs_accel.store.resolve_run_id`); without it,
    each cell shows the most recent run that tested its model on its backend.
    """
    # One query: rank each (model, hardware)'s runs by recency and keep rank 1.
    # A run missing from `runs` (a shard merged without its header) is dated by
    # its newest result row so it still takes part.
    cur = con.execute(
        """
        WITH item_rows AS (
            SELECT t.run_id, t.nodeid, t.outcome, t."when", t.duration_s, t.message,
                   t.model, t.hardware,
                   coalesce(r.started_at, max(t.finished_at) OVER (PARTITION BY t.run_id))
                       AS run_started_at
            FROM test_results t LEFT JOIN runs r USING (run_id)
            WHERE t.subtest IS NULL AND t.model IS NOT NULL AND t.hardware IS NOT NULL
              AND ($run_id IS NULL OR t.run_id = $run_id)
        ),
        ranked AS (
            SELECT *, dense_rank() OVER (
                PARTITION BY model, hardware
                ORDER BY run_started_at DESC NULLS LAST, run_id DESC
            ) AS recency
            FROM item_rows
        )
        SELECT run_id, nodeid, outcome, "when", duration_s, message, model, hardware,
               -- ISO text in UTC: turning TIMESTAMPTZ into Python objects needs pytz
               strftime(timezone('UTC', run_started_at), '%Y-%m-%dT%H:%M:%S.%fZ')
                   AS run_started_at
        FROM ranked WHERE recency = 1
        ORDER BY model, hardware, nodeid
        """,
        {"run_id": run_id},
    )
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["model"], row["hardware"]), []).append(row)

    cells = {key: _cell(key, group) for key, group in grouped.items()}
    models = tuple(sorted({m for m, _ in cells}))
    seen = {h for _, h in cells}
    hardware = tuple([h for h in BACKENDS if h in seen] + sorted(seen - set(BACKENDS)))
    return Matrix(models=models, hardware=hardware, cells=cells, run_id=run_id)


def _cell(key: tuple[str, str], rows: list[dict[str, Any]]) -> Cell:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    present = {_OUTCOME_TO_STATUS.get(o, "error") for o in counts}
    status = next(s for s in CELL_STATUSES if s in present)
    return Cell(
        model=key[0],
        hardware=key[1],
        status=status,
        counts=counts,
        run_id=rows[0]["run_id"],
        run_started_at=rows[0]["run_started_at"],
        tests=tuple(
            MatrixTest(
                nodeid=r["nodeid"],
                outcome=r["outcome"],
                duration_s=r["duration_s"],
                when=r["when"],
                message=r["message"],
            )
            for r in rows
        ),
    )


# --------------------------------------------------------------------------- renderers

_TABLE_WORD = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip"}
_MARKDOWN_MARK = {"passed": "✅", "failed": "❌", "error": "💥", "skipped": "⏭️"}
_LEGEND = (
    "n/m: n of the cell's m tests passed in the latest run that tested it "
    "(xfailed/xpassed count as passed); '-': never tested"
)


def render_matrix(matrix: Matrix, fmt: str = "table") -> str:
    """The matrix as ``table`` (plain terminal text), ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps(matrix.to_dict(), indent=2, default=str)
    if fmt == "markdown":
        return _markdown(matrix)
    if fmt == "table":
        return _table(matrix)
    raise ValueError(f"unknown matrix format {fmt!r}; use one of: {', '.join(FORMATS)}")


def _label(cell: Cell | None, words: dict[str, str]) -> str:
    if cell is None:
        return "-"
    return f"{words[cell.status]} {cell.working}/{cell.total}"


def _table(matrix: Matrix) -> str:
    if not matrix.cells:
        return "no model × hardware results recorded" + (
            f" in run {matrix.run_id}" if matrix.run_id else ""
        )
    header = ["model", *matrix.hardware]
    body = [[m, *(_label(matrix.cell(m, h), _TABLE_WORD) for h in matrix.hardware)] for m in matrix.models]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in body]
    out += ["", _summary(matrix), _LEGEND]
    return "\n".join(out)


def _markdown(matrix: Matrix) -> str:
    if not matrix.cells:
        return "_No model × hardware results recorded._"

    def esc(text: str) -> str:
        # a pipe would end the cell; backticks keep model ids literal
        return text.replace("|", "\\|")

    head = "| model | " + " | ".join(esc(h) for h in matrix.hardware) + " |"
    rule = "|---|" + "---|" * len(matrix.hardware)
    rows = [
        f"| `{esc(m)}` | "
        + " | ".join(_label(matrix.cell(m, h), _MARKDOWN_MARK) for h in matrix.hardware)
        + " |"
        for m in matrix.models
    ]
    marks = ", ".join(f"{mark} {status}" for status, mark in _MARKDOWN_MARK.items())
    return "\n".join([head, rule, *rows, "", f"{_summary(matrix)}. {marks}; {_LEGEND}."])


def _summary(matrix: Matrix) -> str:
    tally = {s: 0 for s in CELL_STATUSES}
    for cell in matrix.cells.values():
        tally[cell.status] += 1
    parts = ", ".join(f"{n} {s}" for s, n in tally.items() if n)
    scope = f"run {matrix.run_id}" if matrix.run_id else "latest run per cell"
    return f"{len(matrix.cells)} cells ({parts}); {scope}"
