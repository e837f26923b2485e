"""onnxruntime-web's files for the browser backends: where they live, what is there, installing them.

``ipfs-accel browser install`` fetches the npm package with ``npm pack`` and
copies the few ``dist`` files the backends load into a cache directory
(``$IPFS_ACCEL_BROWSER_CACHE``, default ``~/.cache/ipfs-accel/browser``), the
way ``playwright install`` fetches browsers.  Nothing is fetched at test time,
and nothing comes from a CDN: the page loads these files from 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

#: the onnxruntime-web release the browser backends run
ORT_WEB_VERSION = "1.30.0"
#: environment variable overriding the cache directory
CACHE_ENV = "IPFS_ACCEL_BROWSER_CACHE"
#: environment variable overriding the Chromium the backends drive
CHROMIUM_ENV = "IPFS_ACCEL_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

#: JS build -> the files it loads (each build loads its own wasm)
BUILDS: dict[str, tuple[str, ...]] = {
    # the CPU path every browser has (wasm backend)
    "ort.wasm.min.mjs": ("ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"),
    # WebGPU (the native WebGPU execution provider; the JSEP one in ort.all returns wrong
    # embeddings for BERT on SwiftShader: off by 1.8 where this one matches torch to 7e-7)
    "ort.webgpu.min.mjs": ("ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm"),
    # WebNN (JSEP)
    "ort.all.min.mjs": ("ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm"),
}
FILES: tuple[str, ...] = tuple(f for build, loads in BUILDS.items() for f in (build, *loads))
MANIFEST = "manifest.json"
INSTALL_HINT = "run `ipfs-accel browser install`"


class InstallError(Exception):
    """Installing the assets failed; the message says what to fix."""


def cache_root() -> Path:
    """The cache directory the assets are installed under."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ipfs-accel" / "browser"


def asset_dir(version: str = ORT_WEB_VERSION) -> Path:
    """Where onnxruntime-web ``version``'s files live."""
    return cache_root() / f"onnxruntime-web-{version}"


def chromium_path() -> Path:
    """The Chromium the browser backends drive (``$IPFS_ACCEL_CHROMIUM`` or Debian's)."""
    return Path(os.environ.get(CHROMIUM_ENV, "").strip() or DEFAULT_CHROMIUM)


def missing_files(version: str = ORT_WEB_VERSION) -> list[str]:
    """The asset files not installed (all of them when nothing is)."""
    directory = asset_dir(version)
    return [name for name in FILES if not (directory / name).is_file()]


def assets_problem(version: str = ORT_WEB_VERSION) -> str | None:
    """``None`` when every asset is installed, else what is missing and how to get it."""
    missing = missing_files(version)
    if not missing:
        return None
    where = asset_dir(version)
    if len(missing) == len(FILES):
        return f"onnxruntime-web {version} is not installed in {where}: {INSTALL_HINT}"
    return f"onnxruntime-web {version} in {where} lacks {', '.join(missing)}: {INSTALL_HINT}"


def install(version: str = ORT_WEB_VERSION, npm: str = "npm") -> Path:
    """Fetch onnxruntime-web ``version`` with ``npm pack`` and copy the needed files into the cache.

    Idempotent: an installed version is left as is.  Writes into a temporary
    directory renamed into place, so an interrupted install leaves nothing half-done.
    """
    target = asset_dir(version)
    if not missing_files(version):
        return target
    if shutil.which(npm) is None:
        raise InstallError(f"{npm} not found: install Node.js and npm (the assets come from the npm registry)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ort-web-", dir=target.parent) as tmp:
        work = Path(tmp)
        proc = subprocess.run(
            [npm, "pack", f"onnxruntime-web@{version}", "--pack-destination", str(work), "--silent"],
            capture_output=True, text=True, timeout=600,
        )
        tarballs = sorted(work.glob("onnxruntime-web-*.tgz"))
        if proc.returncode != 0 or not tarballs:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise InstallError(f"npm pack onnxruntime-web@{version} failed: {detail[-1] if detail else proc.returncode}")
        staged = work / "files"
        staged.mkdir()
        with tarfile.open(tarballs[0]) as tar:
            for name in FILES:
                try:
                    member = tar.getmember(f"package/dist/{name}")
                except KeyError:
                    raise InstallError(f"onnxruntime-web@{version} has no dist/{name}: pick another version") from None
                source = tar.extractfile(member)
                assert source is not None
                with source, open(staged / name, "wb") as out:
                    shutil.copyfileobj(source, out)
        (staged / MANIFEST).write_text(json.dumps({"package": "onnxruntime-web", "version": version,
                                                   "files": list(FILES)}, indent=1))
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target
