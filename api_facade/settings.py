"""The facade's configuration: one immutable object handed to ``create_app``.

Nothing here reads global state at import time; ``Settings.from_env`` is the
one place that looks at the environment, so tests build a ``Settings`` by hand.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_ENV = "IPFS_ACCEL_TOKEN"
#: a token that may only read (status, results, matrix, benchmarks, event streams)
READ_TOKEN_ENV = "IPFS_ACCEL_READ_TOKEN"
#: a token that may also start and cancel runs and generate modules
RUN_TOKEN_ENV = "IPFS_ACCEL_RUN_TOKEN"
#: a file of ``<scope> <token>`` lines (scope ``read`` or ``run``), for several tokens
TOKEN_FILE_ENV = "IPFS_ACCEL_TOKEN_FILE"
#: every variable that holds or names a token (kept out of run subprocesses)
TOKEN_VARIABLES = (TOKEN_ENV, READ_TOKEN_ENV, RUN_TOKEN_ENV, TOKEN_FILE_ENV)
#: the Ray cluster that runs with executor ``ray`` join (``ipfs-accel run --ray=ADDRESS``); unset: each
#: such run starts a local Ray of its own for its duration
RAY_ADDRESS_ENV = "IPFS_ACCEL_RAY_ADDRESS"
#: scopes, weakest first; a scope implies every scope before it
SCOPES = ("read", "run")


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
    #: how long a dropped slow subscriber gets to read up to its 4008 close frame
    slow_close_wait_s: float = 60.0
    max_workers: int = 32
    max_targets: int = 100
    #: seconds between SIGINT (pytest records its end) and SIGKILL when a run is cancelled or times out
    kill_grace_s: float = 5.0
    #: extra origins (scheme://host:port) allowed to open WebSockets besides the service's own
    allowed_origins: tuple[str, ...] = ()
    #: finished runs whose events stay in memory (older ones are read back from their file)
    events_in_memory: int = 32
    token_generated: bool = field(default=False, compare=False)
    #: further ``(scope, token)`` pairs; ``token`` itself has every scope
    scoped_tokens: tuple[tuple[str, str], ...] = ()
    #: ``ipfs-accel run --ray=ADDRESS`` for runs with executor ``ray``; empty: a local Ray per run
    ray_address: str = ""

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
        pairs = tuple((str(scope), str(token)) for scope, token in self.scoped_tokens)
        for scope, token in pairs:
            if scope not in SCOPES:
                raise ValueError(f"unknown token scope {scope!r}; valid: {', '.join(SCOPES)}")
            if not token:
                raise ValueError(f"a {scope} token must not be empty")
        object.__setattr__(self, "scoped_tokens", pairs)

    def scope_of(self, given: str | None) -> str | None:
        """The scope ``given`` grants (``run`` for the main token), or ``None`` for no valid token.

        Every configured token is compared, in constant time, so the answer's
        timing does not tell which one nearly matched.
        """
        if not given:
            return None
        presented = given.encode("utf-8", "surrogatepass")
        found = None
        for scope, token in (("run", self.token), *self.scoped_tokens):
            if hmac.compare_digest(presented, token.encode("utf-8")) and (
                    found is None or SCOPES.index(scope) > SCOPES.index(found)):
                found = scope
        return found

    @classmethod
    def from_env(
        cls,
        *,
        db_path: str | os.PathLike[str] | None = None,
        suite_root: str | os.PathLike[str] | None = None,
        **kwargs,
    ) -> Settings:
        """Settings with the tokens of the environment (``ValueError`` for a bad token file).

        The full-access token is ``IPFS_ACCEL_TOKEN``, else a fresh random one;
        ``IPFS_ACCEL_READ_TOKEN``, ``IPFS_ACCEL_RUN_TOKEN`` and the lines of the
        file named by ``IPFS_ACCEL_TOKEN_FILE`` add scoped tokens; ``IPFS_ACCEL_RAY_ADDRESS``
        is the Ray cluster of runs with executor ``ray``.
        """
        token = os.environ.get(TOKEN_ENV, "").strip()
        generated = not token
        if generated:
            token = secrets.token_urlsafe(24)
        scoped = [(scope, os.environ[name].strip()) for scope, name in (("read", READ_TOKEN_ENV),
                                                                         ("run", RUN_TOKEN_ENV))
                  if os.environ.get(name, "").strip()]
        token_file = os.environ.get(TOKEN_FILE_ENV, "").strip()
        if token_file:
            scoped += read_token_file(Path(token_file).expanduser())
        kwargs.setdefault("ray_address", os.environ.get(RAY_ADDRESS_ENV, "").strip())
        suite = Path(suite_root) if suite_root else Path.cwd()
        db = Path(db_path) if db_path else suite / ".ipfs_accel" / "results.duckdb"
        return cls(db_path=db, suite_root=suite, token=token, token_generated=generated,
                   scoped_tokens=tuple(scoped), **kwargs)


def read_token_file(path: Path) -> list[tuple[str, str]]:
    """``(scope, token)`` pairs of a token file: ``<scope> <token>`` per line; ``#`` starts a comment line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{TOKEN_FILE_ENV}={path}: cannot read it ({exc})") from None
    pairs = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in SCOPES:
            raise ValueError(f"{path}:{number}: expected '<scope> <token>' with scope "
                             f"{' or '.join(SCOPES)}, e.g. 'read s3cret'")
        pairs.append((parts[0], parts[1]))
    return pairs
