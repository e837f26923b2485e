"""Schemathesis hooks for the facade's property-based test: text JSON allows but nothing can use.

Loaded through ``SCHEMATHESIS_HOOKS`` by tests/test_facade_security.py.  Of every
three generated JSON bodies, one is sent as generated, one with a lone
surrogate (``"\\ud800"``, valid JSON, no valid Unicode) added to every string
and key, and one with a value nested 40 levels deep (past the service's limit
of 32): the service must answer each with a 2xx or a 4xx, never a 5xx.
"""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis

_turn = itertools.count()
SURROGATE = "\ud800"
DEPTH = 40


def _with_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value + SURROGATE
    if isinstance(value, list):
        return [_with_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_with_surrogates(k): _with_surrogates(v) for k, v in value.items()}
    return value


def _nested(value: Any) -> Any:
    for _ in range(DEPTH):
        value = [value]
    return value


@schemathesis.hook
def map_body(context, body: Any) -> Any:
    turn = next(_turn) % 3
    if turn == 1:
        return _with_surrogates(body) if body else {SURROGATE: 1}
    if turn == 2 and isinstance(body, dict):
        key = next(iter(body), "targets")
        return {**body, key: _nested(body.get(key))}
    return body
