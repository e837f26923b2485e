"""The run manager: the job lifecycle (submit, queue, run a plan, finish, cancel, recover).

Each job runs as one asyncio task: it waits for a slot (:mod:`.slots`), runs
its plan (:mod:`.plans`) through a :class:`~api_facade.runs.context.RunContext`
(whose pytest steps are the subprocesses), and is recorded in ``facade_runs``
(:mod:`api_facade.data`) at every change of status.  A service that starts
marks the jobs a previous one lost ``interrupted`` (:meth:`RunManager.recover`).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from pathlib import Path
from typing import Any

from api_facade import data
from api_facade.data import ServiceDB
from api_facade.runs.context import Plan, RunContext, StepFailed, Stopped
from api_facade.runs.hub import Hub, seal_file
from api_facade.runs.jobs import Job, new_id, now
from api_facade.runs.procs import end_orphan_group
from api_facade.runs.slots import QueueFull, Slots
from api_facade.settings import Settings

log = logging.getLogger("api_facade")


class RunManager:
    """Owns every job of the service: queueing, execution, cancellation, records."""

    def __init__(self, settings: Settings, db: ServiceDB, hub: Hub) -> None:
        self.settings = settings
        self.db = db
        self.hub = hub
        self.slots = Slots(settings.max_concurrent_runs)
        self.write_lock = asyncio.Lock()  # one module write at a time (plans.write_modules)
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
        for job in self.db.run(data.lost_jobs):
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
                job.counts = self.db.run(data.outcome_counts, job.pytest_run_ids) if job.pytest_run_ids else {}
            except Exception:
                job.counts = {}
            self.db.run(data.save_job, job)
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
                self.db.run(data.merge_shard, shard, [plugin_run_id])
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
                stored = await self.db.call(data.outcome_counts, job.pytest_run_ids)
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
        await self.db.call(data.save_job, job)

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
        return await self.db.call(data.load_job, run_id)

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

