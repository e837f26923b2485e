"""The ``ipfs-accel`` command.

Each subcommand lives in ``pytest_ipfs_accel/commands/<name>.py`` (or the module
its full dotted path names: the facade owns ``serve``) and exposes
``add_parser(subparsers)`` and ``run(args) -> int``; they are imported only when
chosen, so ``ipfs-accel report`` never pays for torch or FastAPI.
Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "hardware": ("hardware", "what each backend offers on this machine"),
    "models": ("models", "known architecture families and model types"),
    "generate": ("generate", "write pytest modules for models"),
    "report": ("report", "show a run's results"),
    "compare": ("compare", "benchmark changes between two runs"),
    "export": ("export", "export a run's benchmarks (pytest-benchmark JSON)"),
    "serve": ("api_facade.command", "start the API facade and dashboard"),
    "run": ("run", "shard a run across a Ray cluster, merged into one run"),
    "node": ("node", "start or join Ray advertising this node's backends"),
    "browser": ("browser", "the browser backends' onnxruntime-web assets: status, install"),
}


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``chosen``, only that subcommand's module is imported."""
    parser = argparse.ArgumentParser(prog="ipfs-accel", description=__doc__.splitlines()[0])
    from pytest_ipfs_accel import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        if chosen is None or chosen == name:
            _load(module).add_parser(subparser)
    return parser


def _load(module: str):
    return importlib.import_module(module if "." in module else f"pytest_ipfs_accel.commands.{module}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(chosen).parse_args(argv)
    from pytest_ipfs_accel.store import StoreError

    try:
        return int(_load(COMMANDS[args.command][0]).run(args) or 0)
    except (CommandError, StoreError) as exc:
        print(f"ipfs-accel {args.command}: error: {exc}", file=sys.stderr)
        return getattr(exc, "code", 2)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("IPFS_ACCEL_DEBUG"):
            raise
        print(
            f"ipfs-accel {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set IPFS_ACCEL_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
