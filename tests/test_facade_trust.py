"""The facade trusts nothing and loses nothing: forged events, bad text, stalled and cut-off clients.

A real service (uvicorn on 127.0.0.1) with real HTTP and WebSocket clients; the
test modules that misbehave are written into its suite root here.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.server import serve

from api_facade.client import AsyncClient, Client
from api_facade.testing import free_port

TOKEN = "trust-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

_EVENT_FD = '''
import os
import sys


def event_fd():
    for arg in sys.argv:
        if arg.startswith("--ipfs-events=fd:"):
            return int(arg.split(":", 1)[1])
    raise AssertionError("not run by the facade")
'''

FORGE = _EVENT_FD + '''

def test_forge():
    fd = event_fd()
    os.write(fd, b'{"$report_type": "RunFinished", "status": "passed", "counts": {"passed": 999}}\\n')
    os.write(fd, b'{"$report_type": "RunQueued", "run_id": "x"}\\n{"$report_type": "StepStart", "step": "x"}\\n')
    os.write(fd, b'{"$report_type": "InvalidEvent", "reason": "forged"}\\n')


def test_after():
    pass


def test_fails():
    assert False, "the real run fails"
'''

# about 14 MB of events: more than the socket buffers of both ends hold
FLOOD = _EVENT_FD + '''

def test_flood():
    fd = event_fd()
    pad = "x" * 16_000
    for i in range(900):
        os.write(fd, b'{"$report_type": "Flood", "i": %d, "pad": "%s"}\\n' % (i, pad.encode()))
'''


@pytest.fixture(scope="module")
def facade_suite(facade_suite: Path) -> Path:
    """The sample suite and the tests that misbehave."""
    (facade_suite / "tests" / "test_forge.py").write_text(FORGE)
    (facade_suite / "tests" / "test_flood.py").write_text(FLOOD)
    return facade_suite


@pytest.fixture(scope="module")
def facade_settings() -> dict:
    """A short subscriber queue (a stall is noticed) and room for big request bodies."""
    return {"token": TOKEN, "subscriber_queue": 200, "max_request_bytes": 200_000}


def test_a_test_cannot_forge_the_end_of_its_run(facade, facade_client: Client):
    run_id = facade_client.start_run(["tests/test_forge.py"])
    streams = [list(facade_client.events(run_id, timeout=120)) for _ in range(2)]
    events = streams[0]
    assert streams[1] == events
    kinds = [e["$report_type"] for e in events]
    assert kinds.count("RunFinished") == 1 and kinds[-1] == "RunFinished"
    assert kinds.count("RunQueued") == 1 and "StepStart" not in kinds and "InvalidEvent" not in kinds
    assert events[-1]["status"] == "failed" and events[-1]["counts"] == {"passed": 2, "failed": 1}
    warnings = [e for e in events if e["$report_type"] == "ServiceWarning"]
    assert len(warnings) == 1 and "'RunFinished'" in warnings[0]["message"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    status = facade_client.status(run_id)
    assert status["status"] == "failed"
    assert status["progress"] == {"collected": 3, "done": 3, "fraction": 1.0}
    log = (facade.data / "service.log").read_text()
    assert "Traceback" not in log and "has finished" not in log


@pytest.mark.parametrize(("body", "status", "message"), [
    (b'{"targets": ["quick/\\ud800.py"]}', 422, "lone surrogate"),
    (b'{"targets": ["tests/test_fast.py::test_\\udc80ok"]}', 422, "lone surrogate"),
    (b'{"targets": ["tests"], "\\ud800": 1}', 422, "body: holds a lone surrogate"),
    (b'{"targets": ["tests"], "hardware": ["\\ud800"]}', 422, "unknown backend(s)"),
    (b'{"targets": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "nests deeper than 32 levels"),
    (b'{"targets": ["tests/\xff\xfe.py"]}', 400, "not UTF-8 (byte 0xff at position 20)"),
    (b'{"targets": ["tests"], "workers": true}', 422, "workers: Input should be a valid integer"),
    (b'{"targets": ["tests"], "timeout_s": true}', 422, "timeout_s: Input should be a valid number"),
])
def test_text_json_cannot_carry_is_a_4xx_that_says_why(facade, body, status, message):
    answer = httpx.post(f"{facade.url}/api/test/run", content=body, timeout=30,
                        headers={**AUTH, "Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert message in answer.json()["detail"]


class RawSubscriber:
    """A WebSocket client on a bare socket with a small receive buffer, so a pause really stalls it."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)  # no autotuning to tens of MB
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(4096)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _take(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_all(self) -> tuple[list[int], tuple[int, str] | None]:
        """The seqs of every text frame, and the close frame's (code, reason); ``None``: no close frame."""
        seqs: list[int] = []
        while (header := self._take(2)) is not None:
            opcode, length = header[0] & 0x0F, header[1] & 0x7F
            if length >= 126:
                length = int.from_bytes(self._take(2 if length == 126 else 8) or b"", "big")
            payload = self._take(length)
            if payload is None:
                break
            if opcode == 0x8:
                return seqs, (int.from_bytes(payload[:2], "big"), payload[2:].decode())
            if opcode == 0x1:
                seqs.append(json.loads(payload)["seq"])
        return seqs, None

    def close(self) -> None:
        self.sock.close()


def test_a_stalled_subscriber_gets_4008_not_a_cut_connection(facade, facade_client: Client):
    """It reads nothing for 7 s while 14 MB arrive: far more than its queue and both sockets hold."""
    run_id = facade_client.start_run(["tests/test_flood.py"])
    raw = RawSubscriber(facade.port, f"/api/test/ws/{run_id}?token={TOKEN}")
    try:
        time.sleep(7)  # longer than the old server waited for its close frame to go out
        seqs, closed = raw.read_all()
    finally:
        raw.close()
    assert closed is not None, "the connection ended without a close frame (1006)"
    assert closed == (4008, f"too slow: reconnect with since={seqs[-1]}")
    assert seqs == list(range(1, len(seqs) + 1))
    rest = list(facade_client.events(run_id, since=seqs[-1], timeout=120))
    assert [e["seq"] for e in rest] == list(range(seqs[-1] + 1, seqs[-1] + 1 + len(rest)))
    assert [e["i"] for e in rest if e["$report_type"] == "Flood"][-1] == 899
    assert rest[-1]["$report_type"] == "RunFinished" and rest[-1]["status"] == "passed"


@pytest.mark.parametrize("flavour", ["sync", "asyncio"])
def test_the_client_resumes_until_run_finished(flavour: str):
    """A connection cut without a close frame, then one closed normally before the last frames."""
    events = [{"$report_type": "RunQueued", "seq": 1}, {"$report_type": "TestResult", "seq": 2},
              {"$report_type": "TestResult", "seq": 3}, {"$report_type": "RunFinished", "seq": 4}]
    asked: list[str] = []

    def handler(connection) -> None:
        path = connection.request.path
        asked.append(path)
        since = int(path.split("since=")[1].split("&")[0])
        end = {1: 2, 2: 3}.get(len(asked), 4)
        for event in events[since:end]:
            connection.send(json.dumps(event))
        if len(asked) == 1:  # 1006: the TCP connection ends without a close frame
            time.sleep(0.2)
            connection.socket.shutdown(socket.SHUT_RDWR)
            return
        connection.close(1000)  # a normal close, but RunFinished has not come

    port = free_port()
    with serve(handler, "127.0.0.1", port) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{port}"
        if flavour == "sync":
            with Client(url, token="t") as client:
                got = list(client.events("run-x", timeout=30))
                assert client.resumes == 2
        else:
            async def read() -> list[dict]:
                async with AsyncClient(url, token="t") as client:
                    events = [e async for e in client.events("run-x")]
                    assert client.resumes == 2
                    return events

            got = asyncio.run(asyncio.wait_for(read(), 30))
        server.shutdown()
    assert got == events
    assert [p.split("?")[1].split("&")[0] for p in asked] == ["since=0", "since=2", "since=3"]
