"""``ipfs-accel node``: start or join Ray advertising exactly the backends this node can run."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", metavar="HOST:PORT", help="join this head (default: start a head node)")
    parser.add_argument("--ip", metavar="ADDR",
                        help="address this node binds (a head's default is 127.0.0.1: nobody else can join "
                             "or reach it; a head for other machines needs its private-network address)")
    parser.add_argument("--hw", metavar="LIST", help="only these backends (default: every usable one)")
    parser.add_argument("--dry-run", action="store_true", help="print the ray start command, run nothing")
    parser.add_argument("ray_args", nargs=argparse.REMAINDER, help="-- then more 'ray start' arguments")


def run(args: argparse.Namespace) -> int:
    from pytest_ipfs_accel.cli import CommandError
    from pytest_ipfs_accel.commands.run import INSTALL_HINT
    from pytest_ipfs_accel.distributed import node

    names = [h.strip().lower() for h in args.hw.split(",") if h.strip()] if args.hw else None
    extra = [a for a in args.ray_args if a != "--"]
    ip = [f"--node-ip-address={args.ip or '127.0.0.1'}"] if args.ip or not args.address else []
    num_gpus, custom, fingerprints = node.detect(names)
    cmd = node.ray_start_command(args.address, num_gpus, custom, ip + extra)
    usable = ", ".join(fingerprints) or "none"
    print(f"ipfs-accel node: usable here: {usable}; GPUs for Ray: {num_gpus}; custom resources: {custom}")
    print(shlex.join(cmd))
    # Ray 2.60 turns token auth on for ray.init()'s local clusters but not for `ray start`
    # unless a token exists: ask for it (a head generates ~/.ray/auth_token; joiners need that token)
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}
    if env["RAY_AUTH_MODE"].lower() != "token":
        print(f"ipfs-accel node: warning: RAY_AUTH_MODE={env['RAY_AUTH_MODE']}: anyone who reaches this "
              "cluster can run code on it (CVE-2023-48022)", file=sys.stderr)
    if args.dry_run:
        return 0
    try:
        return subprocess.run(cmd, env=env, check=False).returncode
    except FileNotFoundError:
        raise CommandError(INSTALL_HINT) from None
