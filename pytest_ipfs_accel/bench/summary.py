"""Plain-text and Markdown tables, and the session's benchmark summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned, the rest right."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    return "\n".join(out)


def format_markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out.extend("| " + " | ".join(esc(c) for c in row) + " |" for row in rows)
    return "\n".join(out)


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


def fmt_rate(value: float | None, unit: str | None) -> str:
    if value is None:
        return "-"
    if value >= 1e9:
        text = f"{value / 1e9:.3g}G"
    elif value >= 1e6:
        text = f"{value / 1e6:.3g}M"
    elif value >= 1e3:
        text = f"{value / 1e3:.3g}k"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


SUMMARY_COLUMNS = ("benchmark", "median", "p90", "stddev", "rounds", "throughput", "tokens/s", "peak mem")


def session_summary(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Lines of the terminal summary: one table per (model, hardware) group."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in results:
        key = (r.get("model") or "-", r.get("hardware") or "-")
        groups.setdefault(key, []).append(r)
    lines: list[str] = []
    for (model, hardware), rows in sorted(groups.items()):
        device = next((r.get("device") for r in rows if r.get("device")), None)
        title = f"model {model} | hardware {hardware}" + (f" ({device})" if device else "")
        lines.append(title)
        body = []
        for r in sorted(rows, key=lambda r: r.get("nodeid") or ""):
            name = r.get("nodeid") or r.get("name") or "?"
            if r.get("source") and r.get("source") != "ipfs_bench":
                name += f"  [{r['source']}]"
            body.append(
                (
                    name,
                    fmt_time(r.get("median_s")),
                    fmt_time(r.get("p90_s")),
                    fmt_time(r.get("stddev_s")),
                    str(r.get("rounds") or "-"),
                    fmt_rate(r.get("throughput"), r.get("throughput_unit")),
                    fmt_rate(r.get("tokens_per_s"), None),
                    fmt_bytes(r.get("peak_memory_bytes")),
                )
            )
        lines.extend("  " + line for line in format_table(SUMMARY_COLUMNS, body).splitlines())
    return lines
