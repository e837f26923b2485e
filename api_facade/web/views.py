"""Jobs -> response bodies (one place decides what a status or summary says)."""

from __future__ import annotations

from typing import Any

from api_facade.runs.hub import Hub
from api_facade.runs.jobs import Job
from api_facade.runs.manager import RunManager
from api_facade.web.schemas import Progress, RunStatus, RunSummary, Step, TaskStatus


def _last_seq(job: Job, hub: Hub) -> int | None:
    try:
        return hub.get(job.run_id).seq
    except OSError:
        return None


def job_steps(job: Job) -> list[Step]:
    """A workflow's steps as the API shows them (other runs have none)."""
    return [Step(**{k: v for k, v in s.items() if k in Step.model_fields}) for s in job.steps]


def _run_head(job: Job) -> dict[str, Any]:
    """The fields a run's status and its summary in a run list say alike."""
    return {
        "run_id": job.run_id, "kind": job.kind, "status": job.status, "reason": job.reason,
        "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at,
        "counts": job.live_counts(), "hardware": job.hardware, "executor": job.request.get("executor", "local"),
    }


def run_status(job: Job, manager: RunManager, hub: Hub) -> RunStatus:
    progress = job.progress
    collected = progress.collected if job.active else job.collected
    done = progress.done if job.active else job.done
    fraction = None
    if collected:
        fraction = round(min(done / collected, 1.0), 4)
    elif not job.active and job.status == "passed":
        fraction = 1.0
    return RunStatus(
        **_run_head(job),
        elapsed_s=job.elapsed_s(),
        exit_code=job.exit_code,
        progress=Progress(collected=collected, done=done, fraction=fraction),
        current_test=progress.current if job.active else None,
        current_step=job.current_step if job.active else None,
        steps=job_steps(job),
        queue_position=manager.queue_position(job.run_id),
        last_seq=_last_seq(job, hub),
        pytest_run_ids=job.pytest_run_ids,
    )


def run_summary(job: Job) -> RunSummary:
    models = job.request.get("models") or ([job.request["model"]] if job.request.get("model") else [])
    return RunSummary(
        **_run_head(job),
        duration_s=job.elapsed_s(),
        targets=list(job.request.get("targets") or []),
        models=list(models),
    )


def task_status(job: Job, hub: Hub) -> TaskStatus:
    models = job.request.get("models") or [job.request.get("model")]
    return TaskStatus(
        task_id=job.run_id,
        status=job.status,
        reason=job.reason,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        elapsed_s=job.elapsed_s(),
        models=[m for m in models if m],
        test_type=job.request.get("test_type", "basic"),
        files=job.files,
        last_seq=_last_seq(job, hub),
    )
