"""Where a one-test session's extra instructions go, phase by phase (callgrind, no timing noise).

Runs a one-test ``pytest`` session under ``valgrind --tool=callgrind`` three
ways: plugin off (``-p no:ipfs_accel``), ``--ipfs-no-db`` and recording.  A
small marker plugin (written to a temporary folder, loaded with ``-p``) calls
``os.getpgrp()`` at each phase boundary and callgrind runs with
``--dump-before=os_getpgrp``, so each boundary closes one part of the profile;
the script prints each phase's instructions and its difference to the plugin
being off.  Phases: interpreter and pytest start (to ``-p`` plugins), loading
the other plugins and ours (the import of our first module, its registration:
``pytest_addhooks`` and ``pytest_addoption`` run there), argument parsing up to
configure, every plugin's ``pytest_configure``, session start, collection, the
test, session finish, unconfigure, and the exit (cleanups, atexit, interpreter
teardown).  The plugin's modules are byte-compiled first, as a wheel install
leaves them.  Takes a few minutes (about 50 times slower than a plain run).

    python benchmarks/recording_phases.py
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recording_overhead import compile_plugin  # noqa: E402

MARKER = '''
import os, sys
import pytest

MARKS = []


def _mark(name):
    MARKS.append(name)
    os.getpgrp()  # callgrind dumps its counts before this call (--dump-before=os_getpgrp)


def _audit(event, args):
    if event == "import" and "ours" not in MARKS and args[0].split(".")[0] in ("hardware_markers",
                                                                              "pytest_ipfs_accel"):
        _mark("ours")


sys.addaudithook(_audit)
_mark("plugins")


def pytest_plugin_registered(plugin, manager):
    if getattr(plugin, "__name__", "") == "pytest_ipfs_accel.plugin":
        _mark("after-ours")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    _mark("parse")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    _mark("configure")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    _mark("collect")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session):
    _mark("test")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    _mark("sessionfinish")


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config):
    _mark("unconfigure")


class _Last:
    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config):
        _mark("exit")


def pytest_addhooks(pluginmanager):
    pluginmanager.register(_Last(), "phase-marks-last")


import atexit
atexit.register(lambda: sys.stderr.write("PHASE-MARKS=" + ",".join(MARKS) + "\\n"))
'''

#: the phase each mark opens, in order, and what it holds
PHASES = {
    "start": "interpreter start, import pytest, -p plugins",
    "plugins": "loading plugins (entry points) before ours",
    "ours": "importing and registering ours (addhooks, addoption)",
    "after-ours": "loading plugins after ours",
    "parse": "arguments, ini, initial conftests",
    "configure": "every plugin's pytest_configure",
    "collect": "session start hooks done -> collection",
    "test": "running the test",
    "sessionfinish": "session finish (terminal summary)",
    "unconfigure": "unconfigure",
    "exit": "cleanups, atexit, interpreter exit",
}


def phases(cmd: list[str], cwd: Path, out: Path) -> dict[str, int]:
    """Instructions per phase of one run (phases without a mark in this run are absent)."""
    env = {**os.environ, "PYTHONHASHSEED": "0",
           "PYTHONPATH": os.pathsep.join(p for p in (str(cwd), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--trace-children=no", "--dump-before=os_getpgrp",
         f"--callgrind-out-file={out}.%p", *cmd],
        cwd=cwd, capture_output=True, text=True, env=env,
    )
    if proc.returncode != 0:
        sys.exit(f"pytest under valgrind failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    marks = re.search(r"PHASE-MARKS=(\S*)", proc.stderr)
    if marks is None:
        sys.exit(f"the marker plugin did not report:\n{proc.stderr[-2000:]}")
    names = ["start", *marks.group(1).split(",")]
    parts: dict[str, dict[int, int]] = {}
    for path in out.parent.glob(out.name + ".*"):
        pid, _, part = path.name.removeprefix(out.name + ".").partition(".")
        total = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.M)
        parts.setdefault(pid, {})[int(part or len(names))] = int(total.group(1)) if total else 0
    ours = max(parts.values(), key=len)  # the pytest process (a git child dumps once)
    if len(ours) != len(names):
        sys.exit(f"expected {len(names)} profile parts, found {len(ours)}")
    # part k (1-based) ends at mark k; the unnumbered last part is the exit
    return {names[k - 1]: ours[k] for k in sorted(ours)}


def main() -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    print(f"byte-compiled: {', '.join(compile_plugin()) or 'nothing (not found)'}")
    installed = any(ep.name == "ipfs_accel" for ep in metadata.entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "pytest_ipfs_accel.plugin"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "phase_marks.py").write_text(MARKER)
        (root / "test_one.py").write_text("def test_one():\n    assert True\n")
        base = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "phase_marks", "test_one.py"]
        variants = {
            "off": [*base, "-p", "no:ipfs_accel"] if installed else base,
            "no-db": [*base, "--ipfs-no-db", *plugin],
            "recording": [*base, f"--ipfs-db={root / 'r.duckdb'}", *plugin],
        }
        found = {name: phases(cmd, root, root / f"cg-{name}") for name, cmd in variants.items()}
    # off has no "ours"/"after-ours" marks: its plugin loading is one phase
    loading = ("plugins", "ours", "after-ours")
    print(f"{'phase':<14}{'off':>10}{'no-db':>10}{'recording':>11}  (M instructions; +: over off)")
    for phase, what in PHASES.items():
        if phase in loading[1:]:
            continue
        row = []
        for name in variants:
            keys = loading if phase == "plugins" else (phase,)
            row.append(sum(found[name].get(k, 0) for k in keys))
        label = "loading" if phase == "plugins" else phase
        print(f"{label:<14}{row[0] / 1e6:10.1f}{(row[1] - row[0]) / 1e6:+10.1f}{(row[2] - row[0]) / 1e6:+11.1f}"
              f"  {'loading every plugin, ours among them' if phase == 'plugins' else what}")
    for name in ("no-db", "recording"):
        print(f"  {name}: ours imported and registered in {found[name].get('ours', 0) / 1e6:.1f} M")
    totals = {name: sum(v.values()) for name, v in found.items()}
    print(f"{'total':<14}{totals['off'] / 1e6:10.1f}{(totals['no-db'] - totals['off']) / 1e6:+10.1f}"
          f"{(totals['recording'] - totals['off']) / 1e6:+11.1f}")


if __name__ == "__main__":
    main()
