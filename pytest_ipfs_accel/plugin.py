"""The pytest plugin: options, hardware parametrization, markers, and who records what.

Module-level hooks only parse options and decide.  The work lives in classes
registered in ``pytest_configure`` only where they should act: the recorder
(:mod:`.recorder`) and the event writer on the process that owns the session's
output (never on an xdist worker), nothing at all with ``-p no:ipfs_accel``.
Shared state lives under the stash keys of :mod:`.keys`.  Importing this module
imports neither torch, transformers nor DuckDB.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import pytest

from hardware_markers import BACKENDS, Registry, default_registry
from pytest_ipfs_accel import hookspecs
from pytest_ipfs_accel.bench import plugin as bench_plugin
from pytest_ipfs_accel.keys import (
    RECORDER_KEY,
    REGISTRY_KEY,
    SELECTION_KEY,
    db_path,
    get_registry,
    get_run_id,
    get_selection,
    get_store,
)
from pytest_ipfs_accel.options import (
    DEFAULT_DB,
    PROP_BENCH,
    PROP_HARDWARE,
    PROP_MODEL,
    add_option,
    option_value,
)
from pytest_ipfs_accel.recorder import Recorder
from pytest_ipfs_accel.selection import HardwareSelection

if TYPE_CHECKING:
    from hardware_markers import Hardware

# get_* are re-exported: conftests and plugins reach the session's state from here
__all__ = [
    "PROP_BENCH", "PROP_HARDWARE", "PROP_MODEL", "db_path", "get_registry", "get_run_id",
    "get_selection", "get_store", "ipfs_hw",
]


# --------------------------------------------------------------------------- options


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)
    # the benchmark half, registered here rather than named in ``pytest_plugins``: pytest
    # parses and compiles every module named there to rewrite its asserts, at every start
    # where its bytecode cache cannot be written
    if not pluginmanager.is_registered(bench_plugin):
        pluginmanager.register(bench_plugin, "pytest_ipfs_accel.bench.plugin")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipfs-accel", "pytest-ipfs-accel: models across hardware, in DuckDB")

    def add(option: str, help: str, **kwargs: Any) -> None:
        add_option(group, parser, option, help, **kwargs)

    add(
        "--ipfs-hw",
        "hardware to run on: auto (every usable backend but the browser ones; default), all (every known "
        "backend, unusable ones skipped with the reason) or a comma list of "
        f"{', '.join(BACKENDS)}",
        metavar="SPEC",
    )
    add("--ipfs-db", f"DuckDB file for results (default: {DEFAULT_DB} under the rootdir)", metavar="PATH")
    add("--ipfs-no-db", "record nothing in DuckDB", action="store_true")
    add("--ipfs-run-id", "use this run id instead of a fresh one", metavar="ID")
    add(
        "--ipfs-events",
        "also write the run's events as JSON lines to PATH, or to inherited file descriptor N with fd:N",
        metavar="PATH|fd:N",
    )


# --------------------------------------------------------------------------- configure


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "hardware(*backends): run this test only on these backends "
        f"({', '.join(BACKENDS)})",
    )
    config.addinivalue_line(
        "markers", "ipfs_model(ref): the model this test exercises (recorded in the model column)"
    )
    registry = default_registry()
    config.hook.pytest_ipfs_accel_register_backends.call_historic(
        kwargs={"registry": registry, "config": config}
    )
    for name in registry.names():
        config.addinivalue_line("markers", f"{name}: parametrized to run on the {name} backend")
    config.stash[REGISTRY_KEY] = registry
    config.stash[SELECTION_KEY] = HardwareSelection(option_value(config, "ipfs_hw") or "auto", registry)

    if hasattr(config, "workerinput"):
        return  # an xdist worker: its reports carry everything to the controller
    db = None if option_value(config, "ipfs_no_db") else db_path(config)
    events = option_value(config, "ipfs_events")
    recorder = Recorder(config, db_path=db, events_target=events)
    config.stash[RECORDER_KEY] = recorder
    config.pluginmanager.register(recorder, "ipfs_accel.recorder")
    # the detached merger starts after every pytest_unconfigure (cleanups run after them, in
    # reverse order: this one after the builtin plugins', whose configure runs after ours)
    config.add_cleanup(recorder.close_store)


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(RECORDER_KEY, None)
    if recorder is not None:
        recorder.close()
        config.pluginmanager.unregister(recorder)
        del config.stash[RECORDER_KEY]


# --------------------------------------------------------------------------- parametrization


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """pytest's parametrization hook: one ``ipfs_hw`` item per selected backend (it has nothing
    to do with ``ipfs-accel generate``, which writes test modules)."""
    if "ipfs_hw" not in metafunc.fixturenames:
        return
    config = metafunc.config
    selection = get_selection(config)
    names = list(selection.names)
    definition = metafunc.definition
    marker_names = _allowed_backends(definition, list(definition.iter_markers("hardware")), get_registry(config))
    if marker_names is not None:
        names = [n for n in names if n in marker_names]
    params = [pytest.param(n, id=n, marks=[getattr(pytest.mark, n)]) for n in names]
    metafunc.parametrize("ipfs_hw", params, indirect=True)


def _allowed_backends(node: pytest.Item, marks: list[pytest.Mark], registry: Registry) -> set[str] | None:
    """The backends ``@pytest.mark.hardware(...)`` marks allow (None: no such mark)."""
    if not marks:
        return None
    allowed: set[str] | None = None
    for mark in marks:  # several markers intersect (closest and class/module level)
        names = {str(a).lower() for a in mark.args}
        unknown = names - set(registry.names())
        if unknown or not names:
            raise pytest.UsageError(
                f"{node.nodeid}: @pytest.mark.hardware({', '.join(map(repr, mark.args))}): "
                f"expected backend names from {', '.join(registry.names())}"
            )
        allowed = names if allowed is None else allowed & names
    return allowed


@functools.cache
def _module_preparations() -> type:
    """``ModulePreparations``: the models prepared in one test module (each converted/compiled
    once); a backend or precision that cannot run skips the test with the reason.  Made at the
    first use: its base, ``hardware_markers.execution``, is not imported to load the plugin
    (callgrind: ~10 M instructions of a one-test session with ``hardware``; docs/store.md)."""
    from hardware_markers.execution import PreparationCache

    class ModulePreparations(PreparationCache):
        def unavailable(self, reason: str):
            pytest.skip(reason)

    return ModulePreparations


@pytest.fixture(scope="module")
def ipfs_accel_preparations():
    """The module's cache behind ``ipfs_hw.prepare``; released when the module's tests are done."""
    cache = _module_preparations()()
    yield cache
    cache.close()


@pytest.fixture
def ipfs_hw(request: pytest.FixtureRequest) -> Hardware:
    """The :class:`hardware_markers.Hardware` this test runs on (one item per selected backend).

    ``ipfs_hw.prepare(model, inputs, precision=None)`` makes a model ready on it
    (once per module, model and input signature) and returns a callable that
    gives torch tensors by output name; see ``hardware_markers.execution``.
    """
    name = getattr(request, "param", None)
    if name is None:
        raise pytest.UsageError("ipfs_hw is parametrized by the plugin; do not request it indirectly")
    hw = get_registry(request.config).detect(name)
    if not hw.usable:
        pytest.skip(f"{name} not usable: {hw.reason}")
    return hw.bind(request.getfixturevalue("ipfs_accel_preparations"))


_MarksFound = tuple[list[pytest.Mark], "pytest.Mark | None"]


def _own_marks(marks: list[pytest.Mark]) -> _MarksFound:
    """This plugin's marks among one node's own: ``hardware`` marks, the first ``ipfs_model``."""
    hardware: list[pytest.Mark] = []
    model = None
    for mark in marks:
        if mark.name == "hardware":
            hardware.append(mark)
        elif mark.name == "ipfs_model" and model is None:
            model = mark
    return hardware, model


class _InheritedMarks:
    """The marks a node passes down to its items (its own, then its parents'), per node."""

    def __init__(self) -> None:
        self._found: dict[pytest.Collector, _MarksFound] = {}

    def of(self, node: pytest.Collector | None) -> _MarksFound:
        if node is None:
            return [], None
        found = self._found.get(node)
        if found is None:
            hardware, model = _own_marks(node.own_markers)
            parent_hardware, parent_model = self.of(node.parent)
            found = self._found[node] = (hardware + parent_hardware, model or parent_model)
        return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    registry = get_registry(config)
    gated: list[tuple[pytest.Item, set[str]]] = []
    inherited = _InheritedMarks()
    for item in items:
        # closest first, as item.iter_markers() yields them, without walking the whole
        # chain for every item (the parents' marks are read once per parent)
        hardware_marks, model = _own_marks(item.own_markers)
        parent_hardware, parent_model = inherited.of(item.parent)
        if parent_hardware:
            hardware_marks = hardware_marks + parent_hardware
        model = model or parent_model
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "ipfs_hw" in callspec.params:
            item.user_properties.append((PROP_HARDWARE, callspec.params["ipfs_hw"]))
        elif hardware_marks:
            wanted = _allowed_backends(item, hardware_marks, registry)
            if wanted is not None:
                gated.append((item, wanted))
        if model is not None and model.args:
            item.user_properties.append((PROP_MODEL, str(model.args[0])))
    # a test marked hardware(...) that does not take ipfs_hw runs only where one of
    # its backends is usable; detection runs only when such a test exists
    for item, wanted in gated:
        detected = [registry.detect(n) for n in sorted(wanted)]
        if not any(h.usable for h in detected):
            reason = "; ".join(f"{h.name} not usable: {h.reason}" for h in detected)
            item.add_marker(pytest.mark.skip(reason=reason))
