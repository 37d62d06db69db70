"""Each value written to the records encoded once: the parameters the database gets and the canonical JSON
text the audit entry holds come from one pass over the row (:func:`encode_row`), a JSON column's text is the
text stored (:class:`Encoded`, passed through by the engines' :func:`json_serializer`), and an entry's row
text is joined from its columns' texts (:func:`row_json`) instead of encoding the row a second time.

The rules are :func:`bench.records.audit.coerce`'s; what :func:`bench.records.audit.verify` later computes
from the stored row parses to the same values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

import sqlalchemy as sa

from bench.records import models as m
from bench.records.audit import UNAUDITED, coerce, dumps, iso
from procedures.errors import InputError


class Encoded(str):
    """A JSON column's value already in canonical JSON text: encoded once, stored as it is (the engines'
    :func:`json_serializer` passes it through) and quoted as it is in the audit entry."""

    __slots__ = ()


def json_serializer(value: Any) -> str:
    """The ``json_serializer`` of every records engine: canonical JSON, and :class:`Encoded` text unchanged."""
    return str.__str__(value) if isinstance(value, Encoded) else dumps(value)


_FLOAT, _INT, _JSON, _TIME, _TEXT, _OTHER = range(6)


@functools.cache
def _kinds(table: sa.Table) -> dict[str, int]:
    kinds = {}
    for col in table.c:
        t = col.type
        if isinstance(t, sa.Float):
            kinds[col.name] = _FLOAT
        elif isinstance(t, sa.Integer):
            kinds[col.name] = _INT
        elif isinstance(t, sa.JSON):
            kinds[col.name] = _JSON
        elif isinstance(t, m.UTCDateTime):
            kinds[col.name] = _TIME
        elif isinstance(t, sa.String | sa.Text):
            kinds[col.name] = _TEXT
        else:
            kinds[col.name] = _OTHER
    return kinds


@functools.cache
def _audited_prefixes(table: sa.Table) -> tuple[tuple[str, str], ...]:
    skip = UNAUDITED.get(table.name, frozenset())
    return tuple((name, _quote(name) + ":") for name in sorted(c.name for c in table.c if c.name not in skip))


def _time_text(value: datetime) -> str:
    return '"' + iso(value) + '"'  # iso remembers the last time: a transaction stamps its rows with one


def encode_row(table: sa.Table, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``values`` as the parameters to write and as each column's canonical JSON text, in one pass.

    The same rules as :func:`coerce` (and the same one-line :class:`InputError` for a value a column cannot
    hold); a JSON value is encoded once, and that text is what the database stores and the audit entry holds.
    """
    kinds = _kinds(table)
    bind: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for name, value in values.items():
        kind = kinds[name]
        if value is None:
            bind[name], texts[name] = None, "null"
            continue
        t = type(value)
        try:
            if kind == _FLOAT and (t is float or t is int):
                value = float(value)
                if not math.isfinite(value):
                    raise ValueError
                bind[name], texts[name] = value, float.__repr__(value)
            elif kind == _INT and t is int:
                bind[name], texts[name] = value, int.__repr__(value)
            elif kind == _JSON:
                text = dumps(value)
                bind[name], texts[name] = Encoded(text), text
            elif kind == _TEXT and t is str:
                bind[name], texts[name] = value, _quote(value)
            elif kind == _TIME and t is datetime and value.tzinfo is UTC:
                bind[name], texts[name] = value, _time_text(value)
            else:
                value = coerce(table, name, value)
                bind[name] = value
                texts[name] = _time_text(value) if isinstance(value, datetime) else dumps(value)
        except (TypeError, ValueError) as err:
            if isinstance(err, InputError):
                raise
            coerce(table, name, value)  # raises the error naming the column
            raise
    return bind, texts


def row_json(table: sa.Table, texts: Mapping[str, str]) -> str:
    """The audit entry's row: canonical JSON of every audited column from the columns' texts (None if absent);
    the same text as ``dumps(canonical_row(table, row))`` up to the order of a JSON value's own keys."""
    get = texts.get
    return "{" + ",".join([prefix + get(name, "null") for name, prefix in _audited_prefixes(table)]) + "}"
