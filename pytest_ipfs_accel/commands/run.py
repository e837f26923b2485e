"""``ipfs-accel run --ray``: shard a pytest run across a Ray cluster, merged into one run.

``--ray`` alone starts a local Ray (dashboard off, 127.0.0.1, token auth as Ray
2.60 defaults) advertising this machine's backends, and stops it afterwards;
``--ray=ADDRESS`` joins an existing cluster and leaves it running.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_ipfs_accel.options import DEFAULT_DB

#: options the driver sets on every shard itself
OWN_OPTIONS = ("--ipfs-hw", "--ipfs-db", "--ipfs-run-id", "--ipfs-no-db")
INSTALL_HINT = "Ray is not installed; install it with: pip install 'pytest-ipfs-accel[ray]'"


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS", required=True,
                        help="run on Ray: alone, a local instance; =ADDRESS joins a cluster (host:port, auto)")
    parser.add_argument("--hw", required=True, metavar="LIST",
                        help="comma list of backends (explicit: every node collects the same ids)")
    parser.add_argument("--shards", type=int, default=1, metavar="N",
                        help="shards in all (at least one per backend; default 1)")
    parser.add_argument("--retries", type=int, default=1, metavar="K",
                        help="retries of a shard whose worker or node died (default 1)")
    parser.add_argument("--shard-timeout", type=float, default=None, metavar="S",
                        help="seconds a shard may run; then its running test is recorded as error")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"DuckDB file (default: {DEFAULT_DB})")
    parser.add_argument("--run-id", default=None, metavar="ID",
                        help="the run's id (default: a fresh one); a service that tracks the run passes its own")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="-- then pytest's arguments")


def run(args: argparse.Namespace) -> int:
    from pytest_ipfs_accel.cli import CommandError
    from pytest_ipfs_accel.distributed import stream

    pytest_args = list(args.pytest_args)
    if pytest_args[:1] == ["--"]:
        pytest_args = pytest_args[1:]
    try:
        events_target, pytest_args = stream.split_target(pytest_args)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    clash = [a for a in pytest_args if a.split("=", 1)[0] in OWN_OPTIONS]
    if clash:
        raise CommandError(f"{clash[0]}: the driver sets this for every shard; use --hw/--db/--run-id of ipfs-accel run")
    hw = [h.strip().lower() for h in args.hw.split(",") if h.strip()]
    if not hw or set(hw) & {"auto", "all"}:
        raise CommandError("--hw needs explicit backends (e.g. cpu,cuda), not auto/all: every node "
                           "must collect the same test ids")
    if args.run_id is not None and not args.run_id.strip():
        raise CommandError("--run-id needs a value (or leave it out for a fresh id)")
    if args.shards < 1 or args.retries < 0 or (args.shard_timeout is not None and args.shard_timeout <= 0):
        raise CommandError("--shards must be >= 1, --retries >= 0 and --shard-timeout > 0")
    try:
        import ray
    except ImportError:
        raise CommandError(INSTALL_HINT) from None
    from pytest_ipfs_accel.distributed import driver, plan

    try:
        events = stream.RunStream.open(events_target) if events_target else None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    opts = driver.Options(pytest_args=pytest_args, hw=",".join(hw), db=args.db.resolve(),
                          shards=args.shards, retries=args.retries, shard_timeout_s=args.shard_timeout,
                          argv=["ipfs-accel", *sys.argv[1:]], events=events)
    try:
        started = _connect(ray, args.ray, hw)
        try:
            outcome = driver.run(ray, opts, run_id=args.run_id)
        except (driver.DriverError, plan.PlanError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            if started:
                ray.shutdown()
    finally:
        if events is not None:
            events.close()  # the driver wrote SessionFinish if it wrote SessionStart
    lost = f", {outcome.errors_added} not run (error rows)" if outcome.errors_added else ""
    print(f"ipfs-accel run: {outcome.run_id}: {len(outcome.attempts)} shard attempts{lost}; "
          f"see: ipfs-accel report --db {args.db} --run {outcome.run_id}")
    return outcome.exit_status


def _connect(ray, address: str, hw: list[str]) -> bool:
    """Connect to Ray; returns whether this process started (and so must stop) it."""
    if ray.is_initialized():  # a caller (a test, a notebook) already connected: use it, leave it
        return False
    if address:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        return True  # ray.shutdown() only disconnects a joined driver; the cluster keeps running
    from pytest_ipfs_accel.distributed import node

    num_gpus, custom, _ = node.detect(hw)
    ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", num_gpus=num_gpus, resources=custom,
             logging_level="ERROR", log_to_driver=False)
    return True
