"""Per-run event logs with sequence numbers, fanned out to WebSocket subscribers.

Each run has one :class:`RunStream`.  ``publish`` numbers an event (``seq``,
contiguous from 1), keeps it for replay and hands it to every subscriber's
bounded queue without ever waiting: a subscriber whose queue is full is
dropped (its socket is closed with :data:`SLOW_CONSUMER`) and may come back
with ``?since=<last seq it got>``.  So a slow client never stalls the run or
the other clients, and memory per subscriber is bounded.

Everything here runs on the event loop thread; nothing awaits between taking
the replay backlog and registering for live events, so no event can fall in
between (neither lost nor sent twice).
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RUN_FINISHED = "RunFinished"
#: WebSocket close code for a subscriber that fell too far behind
SLOW_CONSUMER = 4008
EVENTS_FILE = "events.jsonl"


class Subscriber:
    """One WebSocket's view of a stream: a bounded queue of ``(seq, text, last)``."""

    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[tuple[int, str, bool]] = asyncio.Queue(maxsize)
        self.dropped = asyncio.Event()

    def offer(self, item: tuple[int, str, bool]) -> bool:
        if self.dropped.is_set():
            return False
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped.set()
            return False
        return True


class RunStream:
    """The sequenced events of one run: in memory while live, in ``events.jsonl`` for good."""

    def __init__(self, run_id: str, directory: Path | None, queue_size: int) -> None:
        self.run_id = run_id
        self.queue_size = queue_size
        self.seq = 0
        self.finished = False
        self._texts: list[str] = []
        self._subscribers: set[Subscriber] = set()
        self._path = directory / EVENTS_FILE if directory else None
        self._file = None
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("a", encoding="utf-8")

    @classmethod
    def from_file(cls, run_id: str, directory: Path) -> RunStream:
        """A finished run's stream read back from its events file (after a restart or eviction)."""
        stream = cls(run_id, None, 0)
        path = directory / EVENTS_FILE
        if path.exists():
            with path.open(encoding="utf-8", errors="replace") as handle:
                stream._texts = [line.rstrip("\n") for line in handle if line.strip()]
            if stream._texts and not _is_json(stream._texts[-1]):
                stream._texts.pop()  # the service died while writing its last line
        stream.seq = len(stream._texts)
        stream.finished = True
        return stream

    def publish(self, event: dict[str, Any]) -> int:
        """Number ``event``, keep it, and offer it to every subscriber.  Returns its ``seq``."""
        if self.finished:
            raise RuntimeError(f"run {self.run_id} has finished; no more events")
        self.seq += 1
        last = event.get("$report_type") == RUN_FINISHED
        # the service's numbering wins over any 'seq' the untrusted writer put in
        text = json.dumps({**event, "seq": self.seq}, default=str, ensure_ascii=False)
        self._texts.append(text)
        if self._file is not None:
            self._file.write(text + "\n")
        for subscriber in list(self._subscribers):
            if not subscriber.offer((self.seq, text, last)):
                self._subscribers.discard(subscriber)
        if last:
            self.finished = True
            self._close_file()
        return self.seq

    def finish(self, status: str, **details: Any) -> int:
        """Publish the closing ``RunFinished`` event (exactly once)."""
        if self.finished:
            return self.seq
        return self.publish({"$report_type": RUN_FINISHED, "run_id": self.run_id, "status": status, **details})

    def subscribe(self, since: int) -> tuple[list[tuple[int, str, bool]], Subscriber | None]:
        """Events after ``since`` so far, and a subscriber for the rest (``None`` once finished)."""
        backlog = [
            (seq, self._texts[seq - 1], self.finished and seq == self.seq)
            for seq in range(max(since, 0) + 1, self.seq + 1)
        ]
        if self.finished:
            return backlog, None
        subscriber = Subscriber(self.queue_size)
        self._subscribers.add(subscriber)
        return backlog, subscriber

    def unsubscribe(self, subscriber: Subscriber | None) -> None:
        if subscriber is not None:
            self._subscribers.discard(subscriber)

    def events(self) -> Iterator[dict[str, Any]]:
        """The events so far, parsed (for tests and summaries)."""
        return (json.loads(text) for text in self._texts)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> None:
        self._close_file()


class Hub:
    """All streams of the service: live ones, plus a few finished ones kept in memory."""

    def __init__(self, runs_dir: Path, queue_size: int, keep_finished: int) -> None:
        self.runs_dir = runs_dir
        self.queue_size = queue_size
        self.keep_finished = keep_finished
        self._live: dict[str, RunStream] = {}
        self._finished: OrderedDict[str, RunStream] = OrderedDict()

    def open(self, run_id: str) -> RunStream:
        """A fresh stream for a new run (its events file is started anew)."""
        directory = self.runs_dir / run_id
        (directory / EVENTS_FILE).unlink(missing_ok=True)
        stream = RunStream(run_id, directory, self.queue_size)
        self._live[run_id] = stream
        return stream

    def get(self, run_id: str) -> RunStream:
        """The stream of ``run_id``; a finished run's is read back from disk if needed."""
        if run_id in self._live:
            stream = self._live[run_id]
            if stream.finished:
                self._retire(run_id, stream)
            return stream
        if run_id in self._finished:
            self._finished.move_to_end(run_id)
            return self._finished[run_id]
        stream = RunStream.from_file(run_id, self.runs_dir / run_id)
        self._remember(run_id, stream)
        return stream

    def retire(self, run_id: str) -> None:
        """Move a finished run's stream out of the live set."""
        stream = self._live.get(run_id)
        if stream is not None:
            self._retire(run_id, stream)

    def _retire(self, run_id: str, stream: RunStream) -> None:
        del self._live[run_id]
        stream.close()
        self._remember(run_id, stream)

    def _remember(self, run_id: str, stream: RunStream) -> None:
        self._finished[run_id] = stream
        while len(self._finished) > self.keep_finished:
            self._finished.popitem(last=False)

    def close(self) -> None:
        for stream in self._live.values():
            stream.close()


def seal_file(directory: Path, run_id: str, status: str, **details: Any) -> int:
    """Append a closing ``RunFinished`` to the events file of a run the service lost.

    Used at start-up for runs a previous service left unfinished, so replaying
    them still ends the way every stream ends.  Returns the number of events.
    """
    stream = RunStream.from_file(run_id, directory)
    if stream._texts and json.loads(stream._texts[-1]).get("$report_type") == RUN_FINISHED:
        return stream.seq
    event = {"$report_type": RUN_FINISHED, "run_id": run_id, "status": status, **details, "seq": stream.seq + 1}
    directory.mkdir(parents=True, exist_ok=True)
    texts = [*stream._texts, json.dumps(event, default=str)]
    (directory / EVENTS_FILE).write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return stream.seq + 1


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
