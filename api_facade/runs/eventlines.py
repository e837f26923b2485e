"""Turn the untrusted bytes of a run's event stream into event dicts.

A pytest subprocess runs user code, so its event stream may carry anything:
lines too long, invalid UTF-8, JSON that is not an object.  None of it may
crash the service or grow its memory without bound, and nothing is dropped
silently: a bad line becomes an ``InvalidEvent`` saying what was wrong.

Nor may test code speak for the service: an event whose type the service
itself emits (:data:`SERVICE_EVENT_TYPES`, e.g. a forged ``RunFinished``) is
dropped, and the first such line of a run becomes one ``ServiceWarning``.
"""

from __future__ import annotations

import json
from typing import Any

INVALID = "InvalidEvent"
_PREVIEW = 200
#: event types only the service emits; the same type on a run's pipe is a forgery
SERVICE_EVENT_TYPES = frozenset({
    "RunQueued", "RunStarted", "RunFinished", "StepStart", "StepFinish", "GeneratedFile",
    INVALID, "ServiceWarning",
})


class LineDecoder:
    """Incremental splitter: ``feed(chunk)`` returns the events completed by ``chunk``.

    Lines longer than ``max_bytes`` are cut off: the rest of such a line is
    skipped up to its newline, and one ``InvalidEvent`` reports the length.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._skipping = 0  # bytes discarded so far from an over-long line
        self._pending_preview = b""
        #: lines dropped because they carried a service event type
        self.forged = 0

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        start = 0
        while start < len(chunk):
            newline = chunk.find(b"\n", start)
            end = len(chunk) if newline < 0 else newline
            piece = chunk[start:end]
            if self._skipping:
                self._skipping += len(piece)
            elif len(self._buffer) + len(piece) > self.max_bytes:
                self._skipping = len(self._buffer) + len(piece)
                preview = bytes(self._buffer[:_PREVIEW] or piece[:_PREVIEW])
                self._buffer.clear()
                self._pending_preview = preview
            else:
                self._buffer += piece
            if newline < 0:
                break
            events.extend(self._end_line())
            start = newline + 1
        return events

    def close(self) -> list[dict[str, Any]]:
        """Events of a last line that had no newline (the writer died mid-line)."""
        if self._buffer or self._skipping:
            return self._end_line()
        return []

    def _end_line(self) -> list[dict[str, Any]]:
        if self._skipping:
            size, self._skipping = self._skipping, 0
            return [invalid(f"event line of {size} bytes exceeds the {self.max_bytes}-byte limit",
                            self._pending_preview)]
        line = bytes(self._buffer)
        self._buffer.clear()
        if not line.strip():
            return []
        event, parsed = _parse(line)
        kind = event["$report_type"]
        if parsed and kind in SERVICE_EVENT_TYPES:
            self.forged += 1
            if self.forged > 1:
                return []
            return [{"$report_type": "ServiceWarning",
                     "message": f"the run's event stream sent a {kind!r} event, a type only the service "
                                "emits; it and any later such events were dropped",
                     "line": line[:_PREVIEW].decode("utf-8", "replace")}]
        return [event]


def parse_line(line: bytes) -> dict[str, Any]:
    """One line -> an event dict (``InvalidEvent`` when it is not a JSON object with a type)."""
    return _parse(line)[0]


def _parse(line: bytes) -> tuple[dict[str, Any], bool]:
    """The event and whether it is the line's own object (``False``: an ``InvalidEvent`` made here)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8 and bad JSON; deep nesting raises RecursionError
        return invalid(f"not JSON: {str(exc)[:120]}", line), False
    if not isinstance(value, dict):
        return invalid(f"a JSON {type(value).__name__}, not an object", line), False
    if not isinstance(value.get("$report_type"), str):
        return invalid("no '$report_type' string", line), False
    return value, True


def invalid(reason: str, line: bytes) -> dict[str, Any]:
    return {
        "$report_type": INVALID,
        "reason": reason,
        "line": line[:_PREVIEW].decode("utf-8", "replace"),
    }
