"""How the ``engram`` command prints: aligned tables and key/value blocks for people, JSON for programs.

``--json`` prints the native protocol's result for the command (the shapes in docs/protocol.md), with embeddings as
float arrays rather than bytes and times as epoch seconds, so a script sees exactly what a native client sees.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

COLUMN_GAP = "  "
MIN_LAST_COLUMN_WIDTH = 30
FALLBACK_TERMINAL_COLUMNS = 120
ELLIPSIS = "…"


def to_json(value: Any) -> str:
    """JSON text of a protocol result (or a list or dict of them)."""
    return json.dumps(_jsonable(msgspec.to_builtins(value, builtin_types=(bytes,))), indent=2, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):  # only embeddings are bytes in the protocol: little-endian float32
        return list(struct.unpack(f"<{len(value) // 4}f", value))  # no numpy: the CLI starts faster without it
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: frozenset[int] = frozenset(),
    width: int | None = None,
    fit: bool = True,
) -> str:
    """Rows under headers, every column as wide as its widest cell; ``right`` columns (numbers) align right.

    With ``fit``, the last column (free text, such as content) is clipped to what is left of ``width`` (default: the
    terminal's), but never below ``MIN_LAST_COLUMN_WIDTH``, so each row stays on one line. Without it nothing is
    clipped, for values that are useless cut short (paths).
    """
    cells = [[one_line(cell) for cell in row] for row in [list(headers), *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    used = sum(widths[:-1]) + len(COLUMN_GAP) * (len(widths) - 1)
    if fit:
        columns = width or shutil.get_terminal_size((FALLBACK_TERMINAL_COLUMNS, 24)).columns
        widths[-1] = min(widths[-1], max(MIN_LAST_COLUMN_WIDTH, columns - used))
    lines = []
    for row in cells:
        row[-1] = clip(row[-1], widths[-1])
        padded = [
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(COLUMN_GAP.join(padded).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """A key/value block with the values aligned: one record, shown whole (nothing clipped)."""
    width = max((len(key) for key, _ in pairs), default=0)
    return "\n".join(f"{key + ':':<{width + 1}} {value}".rstrip() for key, value in pairs)


def one_line(text: str) -> str:
    """A table cell never breaks its row: newlines and tabs become spaces."""
    return " ".join(text.split()) if any(c in text for c in "\n\r\t") else text


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + ELLIPSIS


def when(epoch_s: float) -> str:
    """A compact UTC time for tables, e.g. 2024-01-04 08:15:00Z."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def number(value: float) -> str:
    return f"{value:.2f}"
