"""Repair a tiny configuration that transformers' own validation rejects.

Shrinking every size on its own can break a relation that a model's
``validate_architecture`` (or ``__post_init__``) checks: a sub-config width
that must equal the backbone's, an image size that must tile into windows, a
stack that must hold one layer per stage.  When transformers rejects the
shrunk configuration, the fields its message names (config keys, possibly
``sub_config.key``) are the ones whose relation broke; this module restores
that relation as the *default* configuration holds it, never by model name (tried in this order):

- ``relate``: a named field the shrink left alone (or shrank differently)
  takes the value the default's ratio to another named, shrunk field gives
  (``condition_dim == hidden_size`` in the default: it follows the tiny width);
- ``sum``: named depths the default makes sum to another named depth are given
  one layer each, and the total follows;
- ``grow``: named fields the shrink lowered double back toward their default
  until the configuration validates (an image size that must hold whole
  windows, a stage count that must match per-stage lists);
- ``follow``: width fields left at a default equal to a shrunk ``hidden_size``
  take its tiny value (for messages that name no field).

Each candidate is checked by building the configuration again; the first one
transformers accepts wins, and none is tried when the tiny config is valid.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

from generators.tiny_fit import is_int

#: how many rounds of repairs one configuration may need (each fixes one relation)
_ROUNDS = 3
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")

Path = tuple[str, ...]


def _get(d: dict[str, Any], path: Path) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _set(d: dict[str, Any], path: Path, value: Any) -> None:
    for key in path[:-1]:
        d = d[key]
    d[path[-1]] = value


def _paths(d: dict[str, Any], prefix: Path = ()) -> Iterator[Path]:
    for key, value in d.items():
        if isinstance(value, dict) and "model_type" in value:
            yield from _paths(value, (*prefix, key))
        else:
            yield (*prefix, key)


def named_fields(message: str, default: dict[str, Any]) -> list[Path]:
    """The config fields (paths into ``default``) a validation message names.

    ``text_config.vocab_size`` names that sub-config's field; a bare
    ``hidden_size`` names every field of that name (the message cannot say which).
    """
    known = list(_paths(default))
    found: list[Path] = []
    for token in dict.fromkeys(_IDENT.findall(message)):
        parts = tuple(token.split("."))
        for path in known:
            if path[-len(parts):] == parts and path not in found:
                found.append(path)
    return found


def _relate(default: dict[str, Any], shrunk: dict[str, Any], named: list[Path]) -> Iterator[dict[str, Any]]:
    """Each named field set from another named, shrunk one by the ratio the default holds between them."""
    for target in named:
        for source in named:
            base_t, base_s, tiny_s = _get(default, target), _get(default, source), _get(shrunk, source)
            if target == source or not is_int(base_s) or not is_int(tiny_s) or base_s <= 0 or tiny_s == base_s:
                continue
            if is_int(base_t) and base_t > 0:
                value = base_t * tiny_s / base_s
                if value == int(value) and value >= 1 and value != _get(shrunk, target):
                    out = copy.deepcopy(shrunk)
                    _set(out, target, int(value))
                    yield out
            elif isinstance(base_t, list) and base_t and all(is_int(v) and v > 0 for v in base_t) and base_s in base_t:
                scaled = [v * tiny_s / base_s for v in base_t]  # a list of widths ending in the width
                if all(v == int(v) and v >= 1 for v in scaled):
                    out = copy.deepcopy(shrunk)
                    _set(out, target, [int(v) for v in scaled])
                    yield out


def _sum(default: dict[str, Any], shrunk: dict[str, Any], named: list[Path]) -> Iterator[dict[str, Any]]:
    """Named depths that sum, in the default, to another named depth: one layer each, the total their sum."""
    ints = [p for p in named if is_int(_get(default, p)) and _get(default, p) > 0]
    for total in ints:
        parts = [p for p in ints if p != total and p[:-1] == total[:-1]]
        if len(parts) > 1 and sum(_get(default, p) for p in parts) == _get(default, total):
            out = copy.deepcopy(shrunk)
            for part in parts:
                _set(out, part, 1)
            _set(out, total, len(parts))
            yield out


def _grow(default: dict[str, Any], shrunk: dict[str, Any], named: list[Path]) -> Iterator[dict[str, Any]]:
    """Named fields the shrink lowered, doubled back step by step toward their default."""
    lowered = [
        p for p in named
        if is_int(_get(default, p)) and is_int(_get(shrunk, p)) and 0 < _get(shrunk, p) < _get(default, p)
    ]
    for path in lowered:
        value = _get(shrunk, path)
        while value < _get(default, path):
            value = min(2 * value, _get(default, path))
            out = copy.deepcopy(shrunk)
            _set(out, path, value)
            yield out


def _follow(default: dict[str, Any], shrunk: dict[str, Any], named: list[Path]) -> Iterator[dict[str, Any]]:
    """Every width-like field the shrink left at a default that equals a (now shrunk) ``hidden_size``: follows it.

    For messages that name no field (``adapter output width must match the text
    hidden size``): all such fields at once, as one candidate.
    """
    tiny_by_default: dict[int, set[int]] = {}
    for path in _paths(default):
        base, tiny = _get(default, path), _get(shrunk, path)
        if path[-1] == "hidden_size" and is_int(base) and is_int(tiny) and tiny < base:
            tiny_by_default.setdefault(base, set()).add(tiny)
    out = copy.deepcopy(shrunk)
    changed = False
    for path in _paths(default):
        base = _get(default, path)
        follows = tiny_by_default.get(base) if is_int(base) else None
        if follows and len(follows) == 1 and _get(shrunk, path) == base and path[-1].endswith(_WIDTH_SUFFIXES):
            _set(out, path, next(iter(follows)))
            changed = True
    if changed:
        yield out


_WIDTH_SUFFIXES = ("_dim", "_size", "_channels")
_STRATEGIES = (_relate, _sum, _grow, _follow)


def repair(
    default: dict[str, Any], shrunk: dict[str, Any], check: Callable[[dict[str, Any]], None], error: Exception
) -> dict[str, Any]:
    """``shrunk`` with the relations ``error`` names restored, as ``check`` (which raises) accepts.

    Raises ``error`` again when no candidate passes.
    """
    current, message = shrunk, str(error)
    for _ in range(_ROUNDS):
        named = named_fields(message, default)
        progress = None
        for strategy in _STRATEGIES:
            for candidate in strategy(default, current, named):
                try:
                    check(candidate)
                except Exception as exc:  # noqa: BLE001 - any rejection: try the next candidate
                    if progress is None and set(named_fields(str(exc), default)) - set(named):
                        progress = (candidate, str(exc))  # another relation now fails: this one held
                    continue
                return candidate
        if progress is None:
            break
        current, message = progress
    raise error
