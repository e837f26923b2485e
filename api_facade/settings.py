"""The facade's configuration: one immutable object handed to ``create_app``.

Nothing here reads global state at import time; ``Settings.from_env`` is the
one place that looks at the environment, so tests build a ``Settings`` by hand.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_ENV = "IPFS_ACCEL_TOKEN"


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to know; every cap is a security default (DESIGN.md)."""

    db_path: Path
    suite_root: Path
    token: str
    host: str = "127.0.0.1"
    port: int = 8000
    #: where each run keeps its shard database, sequenced events and output log
    runs_dir: Path | None = None
    #: where generated test modules go (must lie under ``suite_root``)
    generated_dir: Path | None = None
    max_concurrent_runs: int = 2
    max_queued_runs: int = 64
    max_run_time_s: float = 3600.0
    default_run_time_s: float = 1800.0
    max_request_bytes: int = 64 * 1024
    max_event_bytes: int = 256 * 1024
    #: messages a WebSocket subscriber may fall behind before it is dropped
    subscriber_queue: int = 2000
    max_workers: int = 32
    max_targets: int = 100
    #: seconds between SIGINT (pytest records its end) and SIGKILL when a run is cancelled or times out
    kill_grace_s: float = 5.0
    #: extra origins (scheme://host:port) allowed to open WebSockets besides the service's own
    allowed_origins: tuple[str, ...] = ()
    #: finished runs whose events stay in memory (older ones are read back from their file)
    events_in_memory: int = 32
    token_generated: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        # normalise paths once so every comparison (allow-listing) sees the same form
        object.__setattr__(self, "db_path", Path(self.db_path).expanduser().resolve())
        object.__setattr__(self, "suite_root", Path(self.suite_root).expanduser().resolve())
        runs_dir = self.runs_dir or self.db_path.parent / "facade_runs"
        object.__setattr__(self, "runs_dir", Path(runs_dir).expanduser().resolve())
        generated = self.generated_dir or self.suite_root / "generated"
        object.__setattr__(self, "generated_dir", Path(generated).expanduser().resolve())
        if not self.generated_dir.is_relative_to(self.suite_root):
            raise ValueError(f"generated_dir {self.generated_dir} must lie under the suite root {self.suite_root}")
        if not self.token:
            raise ValueError("the API token must not be empty")

    @classmethod
    def from_env(
        cls,
        *,
        db_path: str | os.PathLike[str] | None = None,
        suite_root: str | os.PathLike[str] | None = None,
        **kwargs,
    ) -> Settings:
        """Settings with the token from ``IPFS_ACCEL_TOKEN``, else a fresh random one."""
        token = os.environ.get(TOKEN_ENV, "").strip()
        generated = not token
        if generated:
            token = secrets.token_urlsafe(24)
        suite = Path(suite_root) if suite_root else Path.cwd()
        db = Path(db_path) if db_path else suite / ".ipfs_accel" / "results.duckdb"
        return cls(db_path=db, suite_root=suite, token=token, token_generated=generated, **kwargs)
