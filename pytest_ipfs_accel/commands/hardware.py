"""``ipfs-accel hardware``: what each backend offers on this machine, with reasons."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

#: the devices column is cut here so the reason stays on screen
DEVICE_COLUMN_MAX = 56


def add_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``ipfs-accel hardware``."""
    parser.add_argument(
        "backends", nargs="*", metavar="BACKEND",
        help="only these backends (default: every known backend)",
    )
    parser.add_argument(
        "--json", action="store_true",
        help="print a JSON list of device fingerprints instead of a table",
    )


def run(args: argparse.Namespace) -> int:
    """Detect the chosen backends and print them as a table or as JSON."""
    from hardware_markers import default_registry

    registry = default_registry()
    names = list(args.backends) or list(registry.names())
    unknown = [n for n in names if n not in registry.names()]
    if unknown:
        from pytest_ipfs_accel.cli import CommandError

        raise CommandError(
            f"unknown backend {', '.join(map(repr, unknown))}; "
            f"choose from: {', '.join(registry.names())}"
        )
    detected = [registry.detect(n) for n in names]
    if args.json:
        # default=str: a runtime may report a property as its own type (enums, UUIDs)
        json.dump([hw.fingerprint() for hw in detected], sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        write_table(detected, sys.stdout)
    return 0


def _device_lines(hw) -> list[str]:
    from hardware_markers.system import gib

    lines = []
    for device in hw.devices:
        details = [gib(device.memory_bytes)] if device.memory_bytes is not None else []
        if device.capability:
            details.append(device.capability)
        text = device.name + (f" ({', '.join(details)})" if details else "")
        if len(hw.devices) > 1:
            text = f"[{device.index}] {text}"
        if len(text) > DEVICE_COLUMN_MAX:
            text = text[: DEVICE_COLUMN_MAX - 1] + "…"
        lines.append(text)
    return lines or ["-"]


def write_table(detected: list, out: TextIO) -> None:
    """One row per backend (one line per device); the reason is never cut."""
    rows = [(hw.name, "yes" if hw.usable else "no", _device_lines(hw), hw.reason) for hw in detected]
    headers = ("backend", "usable", "devices", "reason")
    widths = [
        max([len(headers[0])] + [len(r[0]) for r in rows]),
        max([len(headers[1])] + [len(r[1]) for r in rows]),
        max([len(headers[2])] + [len(line) for r in rows for line in r[2]]),
    ]

    def line(a: str, b: str, c: str, d: str) -> str:
        return f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip()

    out.write(line(*headers) + "\n")
    out.write(line(*("-" * w for w in widths), "-" * len(headers[3])) + "\n")
    for name, usable, devices, reason in rows:
        out.write(line(name, usable, devices[0], reason) + "\n")
        for extra_device in devices[1:]:
            out.write(line("", "", extra_device, "") + "\n")
