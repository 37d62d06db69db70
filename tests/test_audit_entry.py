"""An audit entry's seal is the HMAC of the canonical JSON of ``{action, at, row, row_id, seq, table}``
(bench.records.audit). The entry is joined from pre-quoted parts for speed (issue #14); a seal that came out
different from the canonical text would make every record written since fail verification, so these check
the joined text against ``json.dumps`` for the values an entry can hold, and that the remembered last time
never answers for another time."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from bench.records import audit

_times = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))]),
)


@given(
    action=st.text(max_size=12),
    table=st.text(max_size=12),
    row_id=st.integers(min_value=-(2**63), max_value=2**63),
    seq=st.integers(min_value=1, max_value=2**63),
    at=_times,
    row=st.dictionaries(
        st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3
    ),
)
def test_the_joined_entry_is_the_canonical_json_of_the_entry(action, table, row_id, seq, at, row):
    row_json = audit.dumps(row)
    canonical = audit.dumps(
        {"action": action, "at": audit.iso(at), "row": row, "row_id": row_id, "seq": seq, "table": table}
    )
    want = hashlib.sha256(("f" * 64 + canonical).encode("ascii")).hexdigest()
    got = audit.entry_hash(
        "f" * 64, seq=seq, at=at, table=table, row_id=row_id, action=action, row_json=row_json
    )
    assert got == want


def test_the_remembered_time_answers_only_for_that_time():
    a = datetime(2026, 12, 1, 16, 0, 0, 123456, tzinfo=UTC)
    b = a + timedelta(microseconds=1)
    c = datetime(2026, 12, 1, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))  # the same instant as a
    naive = datetime(2026, 12, 1, 16, 0, 0, 123457)  # read as UTC: the same instant as b
    for value, text in [(a, "2026-12-01T16:00:00.123456Z"), (b, "2026-12-01T16:00:00.123457Z")] * 2 + [
        (c, "2026-12-01T16:00:00.123456Z"),
        (naive, "2026-12-01T16:00:00.123457Z"),
    ]:
        assert audit.iso(value) == text
        assert audit.iso(value) == json.loads(audit.dumps(text))


def test_threads_formatting_times_at_once_each_get_their_own():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    wrong: list[str] = []

    def work(offset: int) -> None:
        for i in range(2000):
            t = start + timedelta(seconds=offset, microseconds=i)
            if audit.iso(t) != t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"):
                wrong.append(f"{offset}/{i}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


@given(at=st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=13, minutes=45))])))  # fmt: skip
def test_a_time_is_written_as_strftime_wrote_it(at):
    utc = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC)
    assert audit.iso(at) == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
