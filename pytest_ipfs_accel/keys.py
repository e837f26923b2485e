"""The session's config stash keys and their getters: the one place hook modules share state.

The bottom of the plugin core: it imports nothing above it, so the hook
modules (``plugin``, ``recorder``, ``bench.plugin``, ``bench.session``,
``bench.interop``) read what another decided through these getters instead of
importing each other.  Who sets what: ``plugin.pytest_configure`` sets the
registry, the selection and (on the recording process) the recorder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import pytest

from hardware_markers import Registry
from pytest_ipfs_accel.options import DEFAULT_DB, option_value
from pytest_ipfs_accel.selection import HardwareSelection


class RecorderView(Protocol):
    """What other modules may ask of the session's recorder (:class:`recorder.Recorder`)."""

    run_id: str

    def store_connection(self) -> Any:
        """A DuckDB connection to the store holding this run once it is spooled, else None."""


REGISTRY_KEY = pytest.StashKey[Registry]()
SELECTION_KEY = pytest.StashKey[HardwareSelection]()
#: set only on the process that records (never on an xdist worker)
RECORDER_KEY = pytest.StashKey[RecorderView]()


def get_registry(config: pytest.Config) -> Registry:
    """The session's backend registry (defaults plus ``pytest_ipfs_accel_register_backends``)."""
    return config.stash[REGISTRY_KEY]


def get_selection(config: pytest.Config) -> HardwareSelection:
    """The backends ``--ipfs-hw`` selected."""
    return config.stash[SELECTION_KEY]


def get_run_id(config: pytest.Config) -> str | None:
    """This session's run id (on the process that records), else None."""
    recorder = config.stash.get(RECORDER_KEY, None)
    return recorder.run_id if recorder is not None else None


def get_store(config: pytest.Config) -> Any:
    """A DuckDB connection to the store holding this run, once all its rows are spooled
    (from the recorder's ``pytest_sessionfinish`` on; opening it merges the pending
    spools in this process), else None: also for ``--ipfs-no-db``, on a worker, or
    when the database could not be used."""
    recorder = config.stash.get(RECORDER_KEY, None)
    return recorder.store_connection() if recorder is not None else None


def db_path(config: pytest.Config) -> Path:
    """Where this session records: --ipfs-db, the ipfs_db ini key, or the default under the rootdir."""
    value = option_value(config, "ipfs_db")
    if value is None:
        return config.rootpath / DEFAULT_DB
    path = Path(value).expanduser()
    if not path.is_absolute():
        # the command line is relative to where pytest was invoked; the ini key to the rootdir
        base = Path.cwd() if config.getoption("ipfs_db") else config.rootpath
        path = base / path
    return path


def selected_fingerprints(config: pytest.Config) -> dict[str, Any]:
    """Fingerprints of the backends ``--ipfs-hw`` selected (detection is cached per session)."""
    registry = get_registry(config)
    return {name: registry.detect(name).fingerprint() for name in get_selection(config).names}
