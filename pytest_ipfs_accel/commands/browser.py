"""``ipfs-accel browser``: the browser backends' assets (onnxruntime-web) and Chromium.

``ipfs-accel browser`` says what is installed and what is missing;
``ipfs-accel browser install`` fetches onnxruntime-web from npm into the cache
(never done at test time).
"""

from __future__ import annotations

import argparse
import os
import subprocess


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["install"], help="install: fetch onnxruntime-web from npm")
    parser.add_argument("--version", dest="ort_version", default=None,
                        help="onnxruntime-web version (default: the one the backends are built for)")


def _chromium_line() -> tuple[bool, str]:
    from hardware_markers.browser_assets import CHROMIUM_ENV, chromium_path

    path = chromium_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        return False, (f"chromium: missing at {path} (run scripts/install_chromium.sh, "
                       f"or set {CHROMIUM_ENV})")
    try:
        version = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"chromium: {path} does not run: {exc}"
    return True, f"chromium: {version or path} at {path}"


def run(args: argparse.Namespace) -> int:
    from hardware_markers import browser_assets as assets
    from pytest_ipfs_accel.cli import CommandError

    version = args.ort_version or assets.ORT_WEB_VERSION
    if args.action == "install":
        try:
            where = assets.install(version)
        except assets.InstallError as exc:
            raise CommandError(str(exc)) from None
        print(f"onnxruntime-web {version} installed in {where}")
        return 0
    chromium_ok, line = _chromium_line()
    print(line)
    problem = assets.assets_problem(version)
    where = assets.asset_dir(version)
    if problem is None:
        size = sum((where / f).stat().st_size for f in assets.FILES)
        print(f"onnxruntime-web {version}: installed in {where} ({len(assets.FILES)} files, {size / 1e6:.1f} MB)")
    else:
        print(problem)
    return 0 if chromium_ok and problem is None else 1
