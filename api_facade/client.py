"""Python clients of the facade: :class:`Client` (blocking) and :class:`AsyncClient`.

Both start runs and tasks, read status and results, stream events (resuming
by ``seq`` after any connection that ends before ``RunFinished``, so no event
is lost or repeated) and
``wait()`` for any terminal status with a timeout::

    from api_facade.client import Client

    with Client("http://127.0.0.1:8000", token="...") as client:
        run_id = client.start_run(targets=["tests"], hardware=["cpu"])
        for event in client.events(run_id):
            print(event["seq"], event["$report_type"])
        print(client.wait(run_id, timeout=600)["status"])
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from api_facade.runs.jobs import ID_PREFIX, KINDS, PREFIX

TERMINAL = frozenset({"passed", "failed", "error", "cancelled", "timeout", "interrupted"})
SLOW_CONSUMER = 4008
#: reconnection attempts in a row that got no event before an event stream gives up
_MAX_RECONNECTS = 5
#: id prefix -> API area (``run`` -> ``test``), from the service's own tables
_AREAS = {ID_PREFIX[kind]: PREFIX[kind].removeprefix("/api/") for kind in KINDS}


class FacadeError(Exception):
    """The service answered with an error; ``detail`` is its message."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


def _backoff(failures: int) -> float:
    return min(0.1 * 2 ** failures, 2.0)


def area_of(run_id: str) -> str:
    """``run-...`` -> ``test``, ``bench-...`` -> ``benchmark``, ``gen-`` -> ``generator``, ``wf-`` -> ``workflow``."""
    return _AREAS.get(run_id.split("-", 1)[0], "test")


def _status_path(run_id: str) -> str:
    return f"/api/{area_of(run_id)}/status/{quote(run_id, safe='')}"


def _raise_for(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise FacadeError(response.status_code, str(detail))
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


def _run_body(targets, models, hardware, test_type, workers, timeout_s) -> dict[str, Any]:
    body: dict[str, Any] = {"targets": list(targets or []), "models": list(models or []),
                            "hardware": list(hardware or []), "test_type": test_type, "workers": workers}
    if timeout_s is not None:
        body["timeout_s"] = timeout_s
    return body


class _Base:
    def __init__(self, base_url: str, token: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token or os.environ.get("IPFS_ACCEL_TOKEN", "")
        if not self.token:
            raise ValueError("no token: pass token= or set IPFS_ACCEL_TOKEN")
        self.headers = {"Authorization": f"Bearer {self.token}"}
        #: how often an event stream reconnected (slow-consumer drop, lost connection, early close)
        self.resumes = 0

    def ws_url(self, run_id: str, since: int) -> str:
        base = "ws" + self.base_url[len("http"):] if self.base_url.startswith("http") else self.base_url
        query = urlencode({"since": since, "token": self.token})
        return f"{base}/api/{area_of(run_id)}/ws/{quote(run_id, safe='')}?{query}"


class Client(_Base):
    """Blocking client (httpx + websockets' sync client)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", token: str | None = None,
                 timeout: float = 30.0) -> None:
        super().__init__(base_url, token)
        self._http = httpx.Client(base_url=self.base_url, headers=self.headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return _raise_for(self._http.request(method, path, **kwargs))

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/api/health")

    def start_run(self, targets: list[str] | None = None, *, models: list[str] | None = None,
                  hardware: list[str] | None = None, test_type: str = "basic", workers: int = 0,
                  timeout_s: float | None = None, **options: Any) -> str:
        """Start a test run (``options``: further fields, e.g. ``executor="ray"``); returns its ``run_id``."""
        body = {**_run_body(targets, models, hardware, test_type, workers, timeout_s), **options}
        return self.request("POST", "/api/test/run", json=body)["run_id"]

    def start_benchmark(self, models: list[str], **options: Any) -> str:
        return self.request("POST", "/api/benchmark/run", json={"models": models, **options})["run_id"]

    def start_workflow(self, model: str, **options: Any) -> str:
        return self.request("POST", "/api/workflow/run", json={"model": model, **options})["run_id"]

    def generate(self, model: str, test_type: str = "basic", force: bool = False) -> str:
        """Start a generator task; returns its ``task_id``."""
        body = {"model": model, "test_type": test_type, "force": force}
        return self.request("POST", "/api/generator/model", json=body)["task_id"]

    def status(self, run_id: str) -> dict[str, Any]:
        return self.request("GET", _status_path(run_id))

    def results(self, run_id: str) -> dict[str, Any]:
        area = area_of(run_id)
        path = "result" if area == "generator" else "results"
        return self.request("GET", f"/api/{area}/{path}/{quote(run_id, safe='')}")

    def runs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params = {"limit": limit, **({"status": status} if status else {})}
        return self.request("GET", "/api/test/runs", params=params)["runs"]

    def cancel(self, run_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/{area_of(run_id)}/cancel/{quote(run_id, safe='')}")

    def matrix(self) -> dict[str, Any]:
        return self.request("GET", "/api/test/matrix")

    def benchmark_history(self, **filters: Any) -> list[dict[str, Any]]:
        return self.request("GET", "/api/benchmark/query", params=filters)["results"]

    def compare(self, base: str, head: str, **options: Any) -> dict[str, Any]:
        return self.request("GET", "/api/benchmark/compare", params={"base": base, "head": head, **options})

    def wait(self, run_id: str, timeout: float = 600.0, poll_s: float = 0.25) -> dict[str, Any]:
        """Poll until the run or task reaches any terminal status; ``TimeoutError`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        delay = min(poll_s, 0.05)
        while True:
            status = self.status(run_id)
            if status["status"] in TERMINAL:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{run_id} still {status['status']} after {timeout} s")
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, poll_s)

    def events(self, run_id: str, since: int = 0, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Every event after ``since`` up to ``RunFinished``, each once, in ``seq`` order.

        The stream is complete only when ``RunFinished`` has arrived: after any
        other end (a 4008 slow-consumer drop, a connection lost without a close
        frame, a normal close that came before the last frames) it reconnects
        with ``?since=<last seq>``.  ``TimeoutError`` after ``timeout`` seconds.
        """
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        deadline = None if timeout is None else time.monotonic() + timeout
        failures = 0
        while True:
            received = 0
            code = None
            try:
                remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
                with connect(self.ws_url(run_id, since), open_timeout=remaining or 30) as socket:
                    while True:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            raise TimeoutError(f"no RunFinished for {run_id} within {timeout} s")
                        event = json.loads(socket.recv(timeout=remaining))
                        received += 1
                        since = event["seq"]
                        yield event
                        if event.get("$report_type") == "RunFinished":
                            return
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                error: Exception = closed
            except OSError as exc:  # refused or reset: the service restarts, or the network hiccups
                if isinstance(exc, TimeoutError) and deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"no RunFinished for {run_id} within {timeout} s") from None
                error = exc
            if code == 1000 and not received and self._finished_at(self.status(run_id), since):
                return  # nothing after `since`: the run had finished already
            failures = 0 if received else failures + 1
            if failures > _MAX_RECONNECTS:
                raise error
            if failures:
                time.sleep(_backoff(failures))
            self.resumes += 1

    @staticmethod
    def _finished_at(status: dict[str, Any], since: int) -> bool:
        return status["status"] in TERMINAL and (status.get("last_seq") or 0) <= since

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_Base):
    """``asyncio`` client (httpx.AsyncClient + websockets' asyncio client)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", token: str | None = None,
                 timeout: float = 30.0) -> None:
        super().__init__(base_url, token)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self.headers, timeout=timeout)

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return _raise_for(await self._http.request(method, path, **kwargs))

    async def health(self) -> dict[str, Any]:
        return await self.request("GET", "/api/health")

    async def start_run(self, targets: list[str] | None = None, *, models: list[str] | None = None,
                        hardware: list[str] | None = None, test_type: str = "basic", workers: int = 0,
                        timeout_s: float | None = None, **options: Any) -> str:
        body = {**_run_body(targets, models, hardware, test_type, workers, timeout_s), **options}
        return (await self.request("POST", "/api/test/run", json=body))["run_id"]

    async def start_benchmark(self, models: list[str], **options: Any) -> str:
        return (await self.request("POST", "/api/benchmark/run", json={"models": models, **options}))["run_id"]

    async def start_workflow(self, model: str, **options: Any) -> str:
        return (await self.request("POST", "/api/workflow/run", json={"model": model, **options}))["run_id"]

    async def generate(self, model: str, test_type: str = "basic", force: bool = False) -> str:
        body = {"model": model, "test_type": test_type, "force": force}
        return (await self.request("POST", "/api/generator/model", json=body))["task_id"]

    async def status(self, run_id: str) -> dict[str, Any]:
        return await self.request("GET", _status_path(run_id))

    async def results(self, run_id: str) -> dict[str, Any]:
        area = area_of(run_id)
        path = "result" if area == "generator" else "results"
        return await self.request("GET", f"/api/{area}/{path}/{quote(run_id, safe='')}")

    async def runs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        params = {"limit": limit, **({"status": status} if status else {})}
        return (await self.request("GET", "/api/test/runs", params=params))["runs"]

    async def cancel(self, run_id: str) -> dict[str, Any]:
        return await self.request("POST", f"/api/{area_of(run_id)}/cancel/{quote(run_id, safe='')}")

    async def wait(self, run_id: str, timeout: float = 600.0, poll_s: float = 0.25) -> dict[str, Any]:
        """Poll until any terminal status; ``TimeoutError`` after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = min(poll_s, 0.05)
        while True:
            status = await self.status(run_id)
            if status["status"] in TERMINAL:
                return status
            if loop.time() >= deadline:
                raise TimeoutError(f"{run_id} still {status['status']} after {timeout} s")
            await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
            delay = min(delay * 2, poll_s)

    async def events(self, run_id: str, since: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Every event after ``since`` up to ``RunFinished``; resumes like :meth:`Client.events`."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        failures = 0
        while True:
            received = 0
            code = None
            try:
                async with connect(self.ws_url(run_id, since)) as socket:
                    while True:
                        event = json.loads(await socket.recv())
                        received += 1
                        since = event["seq"]
                        yield event
                        if event.get("$report_type") == "RunFinished":
                            return
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                error: Exception = closed
            except OSError as exc:
                error = exc
            if code == 1000 and not received and Client._finished_at(await self.status(run_id), since):
                return
            failures = 0 if received else failures + 1
            if failures > _MAX_RECONNECTS:
                raise error
            if failures:
                await asyncio.sleep(_backoff(failures))
            self.resumes += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
