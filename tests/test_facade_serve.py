"""``ipfs-accel serve``: starts the service, prints a token, refuses bad options in one line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import duckdb
import httpx

from api_facade.testing import free_port


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    environment = {k: v for k, v in os.environ.items() if k != "IPFS_ACCEL_TOKEN"}
    environment.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "pytest_ipfs_accel", "serve", *args], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_serve_prints_a_generated_token_and_binds_loopback(tmp_path):
    port = free_port()
    proc = _serve("--port", str(port), "--db", str(tmp_path / "s.duckdb"), "--suite-root", str(tmp_path))
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("dashboard:" in line for line in lines):
            lines.append(proc.stdout.readline())
        token = re.search(r"token \(generated; set IPFS_ACCEL_TOKEN to choose one\): (\S+)", "".join(lines))[1]
        assert f"http://127.0.0.1:{port}/?token={token}" in "".join(lines)
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/api/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert httpx.get(f"{url}/api/test/runs").status_code == 401
        assert httpx.get(f"{url}/api/test/runs", headers={"Authorization": f"Bearer {token}"}).json() == {"runs": []}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0


def test_serve_refuses_bad_options_in_one_line(tmp_path):
    proc = _serve("--suite-root", str(tmp_path / "missing"), "--db", str(tmp_path / "s.duckdb"))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert out.strip() == f"ipfs-accel serve: error: --suite-root {tmp_path / 'missing'} is not a folder"

    held = duckdb.connect(str(tmp_path / "held.duckdb"))
    try:
        # another process holds the file past the wait for it: the error names it
        proc = _serve("--db", str(tmp_path / "held.duckdb"), "--suite-root", str(tmp_path),
                      "--port", str(free_port()), env={"IPFS_ACCEL_LOCK_WAIT_S": "1"})
        out, _ = proc.communicate(timeout=60)
    finally:
        held.close()
    assert proc.returncode == 2 and "Traceback" not in out
    assert "is locked by another process" in out and len(out.strip().splitlines()) == 1
    assert f"(PID {os.getpid()})" in out and "for 1 s" in out


def test_serve_refuses_a_bad_token_file_in_one_line(tmp_path):
    (tmp_path / "tokens").write_text("read ok\nadmin s3cret\n")
    proc = _serve("--suite-root", str(tmp_path), "--db", str(tmp_path / "s.duckdb"),
                  env={"IPFS_ACCEL_TOKEN_FILE": str(tmp_path / "tokens")})
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "Traceback" not in out
    assert out.strip() == (f"ipfs-accel serve: error: {tmp_path / 'tokens'}:2: expected '<scope> <token>' "
                           "with scope read or run, e.g. 'read s3cret'")
