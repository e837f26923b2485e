"""The run manager: queue, start, stream, stop and record runs and tasks.

Each job runs as one asyncio task.  A pytest step is a real ``python -m pytest``
in its own process group; its events arrive on a dedicated pipe
(``--ipfs-events=fd:N``), are numbered by the job's :class:`~api_facade.hub.RunStream`
and fanned out.  The run records into the service's store like any session
(``--ipfs-db``: a spool of its own, see :mod:`pytest_ipfs_accel.spool`), merged
when the step ends.  Cancel and timeout interrupt pytest first (SIGINT: it ends
as an interrupted session, so its last rows and the running test are recorded)
and kill the process group after ``kill_grace_s``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import traceback
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from api_facade import db as dbq
from api_facade.db import ServiceDB
from api_facade.eventlines import LineDecoder
from api_facade.hub import Hub, RunStream, seal_file
from api_facade.jobs import Job, new_id, now, status_for_exit
from api_facade.procs import end_group, end_orphan_group, reap_group
from api_facade.pytest_cmd import pytest_command, subprocess_env
from api_facade.settings import Settings

log = logging.getLogger("api_facade")

OUTPUT_LOG = "output.log"
_READ_CHUNK = 64 * 1024


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


class QueueFull(Exception):
    """Too many jobs are waiting already."""


class Slots:
    """At most ``size`` jobs run at once; the rest wait in FIFO order and may withdraw."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0
        self._waiting: OrderedDict[str, asyncio.Future[bool]] = OrderedDict()

    async def acquire(self, key: str) -> bool:
        """Wait for a slot; ``False`` when the wait was withdrawn (the job was cancelled)."""
        if self.used < self.size and not self._waiting:
            self.used += 1
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        return await future

    def withdraw(self, key: str) -> bool:
        future = self._waiting.pop(key, None)
        if future is None:
            return False
        if not future.done():
            future.set_result(False)
        return True

    def release(self) -> None:
        # hand the slot straight to the next waiter, so no newcomer can overtake the queue
        while self._waiting:
            _, future = self._waiting.popitem(last=False)
            if not future.done():
                future.set_result(True)
                return
        self.used -= 1

    def position(self, key: str) -> int | None:
        """1-based place in the queue, or ``None`` when not waiting."""
        for index, waiting in enumerate(self._waiting, 1):
            if waiting == key:
                return index
        return None

    @property
    def waiting(self) -> int:
        return len(self._waiting)


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
                     extra: list[str] | None = None, suffix: str = "", env: dict[str, str] | None = None) -> int:
        """Run pytest once for this job (``env``: extra variables); returns its exit status."""
        self.check()
        plugin_run_id = self.job.run_id + suffix
        self.run_dir.mkdir(parents=True, exist_ok=True)
        read_fd, write_fd = os.pipe()
        # the run spools into the service's store (never holding it) and is merged when it ends
        argv = pytest_command(targets, run_id=plugin_run_id, shard=self.manager.settings.db_path,
                              rootdir=self.manager.settings.suite_root,
                              events=f"fd:{write_fd}",
                              hardware=hardware, workers=workers, extra=extra)
        self.job.argv = argv
        self.job.pytest_run_ids.append(plugin_run_id)
        settings = self.manager.settings
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
        if code in (3, 4):
            lines = self.output_tail()
            detail = next((line for line in reversed(lines) if line.startswith(("ERROR:", "INTERNALERROR>", "E "))),
                          lines[-1] if lines else "")
            if detail:
                reason = f"{reason}: {detail[:300]}"
        return status, reason


class RunManager:
    """Owns every job of the service: queueing, execution, cancellation, records."""

    def __init__(self, settings: Settings, db: ServiceDB, hub: Hub) -> None:
        self.settings = settings
        self.db = db
        self.hub = hub
        self.slots = Slots(settings.max_concurrent_runs)
        self.generate_lock = asyncio.Lock()
        self._jobs: dict[str, Job] = {}
        self._contexts: dict[str, RunContext] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------ lifecycle

    def recover(self) -> list[str]:
        """At start-up (blocking): mark jobs a previous service lost ``interrupted``.

        Their process groups are killed if still alive, whatever their shards
        recorded is merged, and their event logs get a closing ``RunFinished``.
        """
        recovered = []
        for job in self.db.run(dbq.lost_jobs):
            if job.pgid:  # interrupted like a cancel: pytest's last rows reach its spool
                end_orphan_group(job.pgid, job.run_id, self.settings.kill_grace_s)
            previous = job.status
            job.status = "interrupted"
            job.reason = f"the service restarted while the run was {previous}"
            job.finished_at = now()
            job.pgid = None
            run_dir = self.settings.runs_dir / job.run_id
            problems = self._recover_results(job, run_dir)
            if problems:
                job.reason += f"; its partial results could not be merged ({'; '.join(problems)})"
            try:
                job.counts = self.db.run(dbq.outcome_counts, job.pytest_run_ids) if job.pytest_run_ids else {}
            except Exception:
                job.counts = {}
            self.db.run(dbq.save_job, job)
            seal_file(run_dir, job.run_id, job.status, reason=job.reason)
            recovered.append(job.run_id)
        return recovered

    def _recover_results(self, job: Job, run_dir: Path) -> list[str]:
        """Merge what a lost job's pytest runs recorded: their spools, and shard files an
        older service left (each removed only once merged).  Opening the store waits out
        another holder (``store.LOCK_WAIT_S``).  Returns what could not be merged."""
        problems = []
        if job.pytest_run_ids:
            try:
                problems += self.db.merge_spools(job.pytest_run_ids).errors
            except Exception as exc:  # noqa: BLE001 - recovery goes on with the next job
                problems.append(str(exc))
        for plugin_run_id in job.pytest_run_ids:
            shard = run_dir / f"{plugin_run_id}.duckdb"
            if not shard.exists():
                continue
            try:
                self.db.run(dbq.merge_shard, shard, [plugin_run_id])
            except Exception as exc:  # noqa: BLE001 - a shard killed mid-write may be unreadable
                problems.append(str(exc))
                continue
            for path in (shard, shard.with_suffix(".duckdb.wal")):
                path.unlink(missing_ok=True)
        return problems

    async def shutdown(self) -> None:
        """Stop every active job (their groups end) and record them ``interrupted``."""
        for context in list(self._contexts.values()):
            context.stop = Stopped("interrupted", "the service stopped while the run was active")
            context.cancelled.set()
            self.slots.withdraw(context.job.run_id)
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.kill_grace_s + 10)

    # ----------------------------------------------------------------- jobs

    async def submit(self, kind: str, request: dict[str, Any], plan: Plan, *,
                     hardware: list[str] | None = None, uses_slot: bool = True) -> Job:
        """Record a new job as ``queued`` and start working on it; returns at once."""
        if uses_slot and self.slots.waiting >= self.settings.max_queued_runs:
            raise QueueFull(f"{self.slots.waiting} runs are queued already (limit "
                            f"{self.settings.max_queued_runs}); wait for some to finish or cancel them")
        job = Job(new_id(kind), kind, request, hardware=list(hardware or []))
        stream = self.hub.open(job.run_id)
        context = RunContext(self, job, stream)
        self._jobs[job.run_id] = job
        self._contexts[job.run_id] = context
        await self.save(job)
        stream.publish({"$report_type": "RunQueued", "run_id": job.run_id, "kind": kind})
        self._tasks[job.run_id] = asyncio.create_task(self._execute(context, plan, uses_slot))
        return job

    async def _execute(self, context: RunContext, plan: Plan, uses_slot: bool) -> None:
        job = context.job
        holding = False
        try:
            if uses_slot:
                holding = await self.slots.acquire(job.run_id)
                if not holding:
                    raise context.stop or Stopped("cancelled", "cancelled while queued")
            context.check()
            job.status = "running"
            job.started_at = now()
            timeout_s = job.request.get("timeout_s") or self.settings.default_run_time_s
            job.request["timeout_s"] = timeout_s
            context.deadline = asyncio.get_running_loop().time() + timeout_s
            await self.save(job)
            context.publish({"$report_type": "RunStarted", "run_id": job.run_id, "kind": job.kind})
            job.status, job.reason = await plan(context)
        except (Stopped, StepFailed) as exc:
            job.status, job.reason = exc.status, exc.reason
        except Exception as exc:  # the service must survive any failure of one job
            log.error("run %s failed inside the service:\n%s", job.run_id, traceback.format_exc())
            job.status, job.reason = "error", f"the service failed running it: {type(exc).__name__}: {exc}"
        finally:
            if holding:
                self.slots.release()
            await self._finish(context)

    async def _finish(self, context: RunContext) -> None:
        job = context.job
        job.finished_at = now()
        job.collected = job.progress.collected
        job.done = job.progress.done
        job.counts = dict(job.progress.counts)
        if job.pytest_run_ids:
            try:
                stored = await self.db.call(dbq.outcome_counts, job.pytest_run_ids)
            except Exception:
                stored = {}
            if stored:
                job.counts = stored  # the database is the record; events may have been cut short
        try:
            await self.save(job)
        except Exception:
            log.error("run %s: could not save its record:\n%s", job.run_id, traceback.format_exc())
        details = {"reason": job.reason, "counts": job.counts, "exit_code": job.exit_code}
        if job.steps:
            details["steps"] = job.steps
        context.stream.finish(job.status, **details)
        self.hub.retire(job.run_id)
        self._contexts.pop(job.run_id, None)
        self._tasks.pop(job.run_id, None)
        self._jobs.pop(job.run_id, None)

    async def save(self, job: Job) -> None:
        await self.db.call(dbq.save_job, job)

    async def merge(self, context: RunContext, plugin_run_id: str) -> None:
        """Merge one pytest step's spool into the store (its process group is gone by now,
        so the spool is complete, or merges as interrupted; it is removed once merged)."""
        try:
            summary = await asyncio.to_thread(self.db.merge_spools, [plugin_run_id])
            problems = summary.errors
        except Exception as exc:
            problems = [f"{type(exc).__name__}: {exc}"]
        for problem in problems:
            note = f"results of {plugin_run_id} could not be merged: {problem}"
            log.warning("run %s: %s", context.job.run_id, note)
            context.publish({"$report_type": "ServiceWarning", "message": note})

    async def get(self, run_id: str) -> Job | None:
        """A job, live or from the database."""
        job = self._jobs.get(run_id)
        if job is not None:
            return job
        return await self.db.call(dbq.load_job, run_id)

    def live(self, run_id: str) -> Job | None:
        return self._jobs.get(run_id)

    def queue_position(self, run_id: str) -> int | None:
        return self.slots.position(run_id)

    async def cancel(self, run_id: str) -> Job | None:
        """Ask a live job to stop; returns the job (``None`` when it is not live)."""
        context = self._contexts.get(run_id)
        if context is None:
            return None
        if context.stop is None:
            context.stop = Stopped("cancelled", "cancelled on request")
        context.cancelled.set()
        self.slots.withdraw(run_id)
        task = self._tasks.get(run_id)
        if task is not None:
            # answer once the group is gone, so a client that sees 'cancelled' sees no process
            await asyncio.wait({task}, timeout=self.settings.kill_grace_s + 10)
        return context.job

    async def wait(self, run_id: str, timeout: float | None = None) -> None:
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout)

    def active_jobs(self) -> list[Job]:
        return list(self._jobs.values())

