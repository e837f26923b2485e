"""What a job's plan may do: named steps, pytest steps, publishing events, checking for a stop.

A pytest step is a real ``python -m pytest`` in its own process group; its
events arrive on a dedicated pipe (``--ipfs-events=fd:N``), are numbered by
the job's :class:`~api_facade.runs.hub.RunStream` and fanned out.  The run
records into the service's store like any session (``--ipfs-db``: a spool of
its own, see :mod:`pytest_ipfs_accel.spool`), merged when the step ends.
Cancel and timeout interrupt pytest first (SIGINT: it ends as an interrupted
session, so its last rows and the running test are recorded) and kill the
process group after ``kill_grace_s``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from api_facade.runs.eventlines import LineDecoder
from api_facade.runs.hub import RunStream
from api_facade.runs.jobs import Job, now, status_for_exit
from api_facade.runs.procs import end_group, reap_group
from api_facade.runs.pytest_cmd import pytest_command, ray_command, subprocess_env

if TYPE_CHECKING:  # the manager creates contexts; a context only calls back into it
    from api_facade.runs.manager import RunManager

log = logging.getLogger("api_facade")

OUTPUT_LOG = "output.log"


class Stopped(Exception):
    """A job ended early: cancelled, timed out, or lost to a shutdown."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class StepFailed(Exception):
    """A step of a job failed; ``status`` is the job's final status (``failed``/``error``)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _EventPipe(asyncio.Protocol):
    """Reads the event pipe: bytes -> bounded lines -> events -> ``on_event``."""

    def __init__(self, decoder: LineDecoder, on_event: Callable[[dict[str, Any]], None],
                 eof: asyncio.Future[None]) -> None:
        self.decoder = decoder
        self.on_event = on_event
        self.eof = eof

    def data_received(self, data: bytes) -> None:
        for event in self.decoder.feed(data):
            self.on_event(event)

    def eof_received(self) -> bool:
        for event in self.decoder.close():
            self.on_event(event)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.eof.done():
            self.eof.set_result(None)


Plan = Callable[["RunContext"], Awaitable[tuple[str, str | None]]]


class RunContext:
    """What a job's plan may do: publish events, run pytest, check for cancellation."""

    def __init__(self, manager: RunManager, job: Job, stream: RunStream) -> None:
        self.manager = manager
        self.job = job
        self.stream = stream
        self.cancelled = asyncio.Event()
        self.stop: Stopped | None = None
        self.deadline: float | None = None
        self.run_dir = manager.settings.runs_dir / job.run_id

    def publish(self, event: dict[str, Any]) -> None:
        self.job.progress.observe(event)
        self.stream.publish(event)

    def check(self) -> None:
        """Raise :class:`Stopped` when the job was cancelled or ran out of time."""
        if self.stop is not None:
            raise self.stop
        if self.deadline is not None and asyncio.get_running_loop().time() >= self.deadline:
            self.stop = Stopped("timeout", self._timeout_reason())
            raise self.stop

    def _timeout_reason(self) -> str:
        return f"the run exceeded its time limit of {self.job.request.get('timeout_s')} s"

    async def step(self, name: str, body: Callable[[], Awaitable[Any]]) -> Any:
        """Run one named step of a job, announcing it; a failure names the step."""
        self.check()
        self.job.current_step = name
        record = {"step": name, "status": "running", "started_at": now().isoformat()}
        self.job.steps.append(record)
        self.publish({"$report_type": "StepStart", "step": name})
        try:
            result = await body()
        except (Stopped, StepFailed) as exc:
            record.update(status=exc.status, reason=exc.reason)
            self.publish({"$report_type": "StepFinish", "step": name, "status": exc.status, "reason": exc.reason})
            if isinstance(exc, StepFailed):
                raise StepFailed(exc.status, f"step '{name}' {exc.status}: {exc.reason}") from None
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            record.update(status="error", reason=reason)
            self.publish({"$report_type": "StepFinish", "step": name, "status": "error", "reason": reason})
            raise StepFailed("error", f"step '{name}' error: {reason}") from exc
        record.update(status="passed", finished_at=now().isoformat())
        self.publish({"$report_type": "StepFinish", "step": name, "status": "passed"})
        self.job.current_step = None
        return result

    async def pytest(self, targets: list[str], *, hardware: list[str] | None = None, workers: int = 0,
                     extra: list[str] | None = None, suffix: str = "", env: dict[str, str] | None = None,
                     executor: str = "local", shards: int | None = None) -> int:
        """Run pytest once for this job (``env``: extra variables); returns its exit status.

        ``executor="ray"`` runs ``ipfs-accel run --ray --run-id ...`` instead: its driver
        shards the run across the Ray cluster and merges the shards into the store itself.
        """
        self.check()
        plugin_run_id = self.job.run_id + suffix
        self.run_dir.mkdir(parents=True, exist_ok=True)
        settings = self.manager.settings
        read_fd, write_fd = os.pipe()
        if executor == "ray":
            argv = ray_command(targets, run_id=plugin_run_id, db=settings.db_path, rootdir=settings.suite_root,
                               events=f"fd:{write_fd}", hardware=list(hardware or []), shards=shards,
                               address=settings.ray_address, extra=extra)
            if not settings.ray_address:
                # a Ray of the run's own: ray.init() would otherwise join the last `ray start`
                # cluster on this machine (and refuse the node's resources ipfs-accel run passes)
                env = {**(env or {}), "RAY_ADDRESS": "local"}
        else:
            # the run spools into the service's store (never holding it) and is merged when it ends
            argv = pytest_command(targets, run_id=plugin_run_id, shard=settings.db_path,
                                  rootdir=settings.suite_root, events=f"fd:{write_fd}",
                                  hardware=hardware, workers=workers, extra=extra)
        self.job.pytest_run_ids.append(plugin_run_id)
        self.job.argv = argv
        try:
            with (self.run_dir / OUTPUT_LOG).open("ab") as output:
                process = await asyncio.create_subprocess_exec(
                    *argv, cwd=settings.suite_root, env={**subprocess_env(), **(env or {})}, stdin=asyncio.subprocess.DEVNULL,
                    stdout=output, stderr=asyncio.subprocess.STDOUT, pass_fds=(write_fd,),
                    start_new_session=True,
                )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child holds its copy; EOF comes when it is done
        pgid = process.pid
        self.job.pgid = pgid
        await self.manager.save(self.job)
        loop = asyncio.get_running_loop()
        eof: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.connect_read_pipe(
            lambda: _EventPipe(LineDecoder(settings.max_event_bytes), self.publish, eof),
            os.fdopen(read_fd, "rb", buffering=0),
        )
        try:
            await self._wait(process, pgid)
        finally:
            await reap_group(pgid)  # stragglers (xdist workers, user subprocesses) go too
            try:
                await asyncio.wait_for(asyncio.shield(eof), 5)
            except asyncio.TimeoutError:
                log.warning("run %s: event pipe still open after its process group ended", self.job.run_id)
            transport.close()
            self.job.pgid = None
            if executor != "ray":
                await self.manager.merge(self, plugin_run_id)
        return process.returncode

    async def _wait(self, process: asyncio.subprocess.Process, pgid: int) -> None:
        loop = asyncio.get_running_loop()
        waiter = asyncio.ensure_future(process.wait())
        canceller = asyncio.ensure_future(self.cancelled.wait())
        timeout = None if self.deadline is None else max(self.deadline - loop.time(), 0)
        try:
            done, _ = await asyncio.wait({waiter, canceller}, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            canceller.cancel()
        if waiter in done:
            return
        if self.stop is None:
            self.stop = Stopped("timeout", self._timeout_reason())
        await end_group(pgid, process, self.manager.settings.kill_grace_s)
        raise self.stop

    def output_tail(self, limit: int = 4096) -> list[str]:
        """The last lines pytest printed (for the reason of an error, never for events)."""
        path = self.run_dir / OUTPUT_LOG
        try:
            with path.open("rb") as handle:
                handle.seek(max(path.stat().st_size - limit, 0))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]

    def exit_reason(self, code: int) -> tuple[str, str | None]:
        """Status and reason of a finished pytest, with pytest's own words for usage errors."""
        status, reason = status_for_exit(code)
        if self.job.request.get("executor") == "ray" and code not in (0, 1, 5):
            # ipfs-accel run says what went wrong in one line of its own
            said = next((line for line in reversed(self.output_tail()) if line.startswith("ipfs-accel run:")), "")
            return "error", f"ipfs-accel run exited with status {code}" + (f": {said[:300]}" if said else "")
        if code in (3, 4):
            lines = self.output_tail()
            detail = next((line for line in reversed(lines) if line.startswith(("ERROR:", "INTERNALERROR>", "E "))),
                          lines[-1] if lines else "")
            if detail:
                reason = f"{reason}: {detail[:300]}"
        return status, reason
