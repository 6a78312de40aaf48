"""Opaque keyset cursors: stable under inserts, O(limit) per page at any depth."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from dunning.common.problems import Problem


def encode_cursor(at: datetime, key: str) -> str:
    raw = json.dumps([at.isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(key, str):
            raise ValueError("bad cursor")
        return moment, key
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Problem(400, "the cursor is not one this API returned", kind="invalid-cursor") from exc


def before(at_column: Any, key_column: Any, position: tuple[datetime, str]) -> ColumnElement[bool]:
    """Rows after ``position`` in newest-first order (``at`` descending, then ``key`` descending)."""
    at, key = position
    return or_(at_column < at, and_(at_column == at, key_column < key))
