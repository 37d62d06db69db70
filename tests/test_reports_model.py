"""The certificate data model: canonical JSON and the content hash that ties a PDF to its record."""

import dataclasses
import json

import pytest

from procedures.errors import InputError
from reports.model import content_hash, to_canonical_json
from reports.samples import sample_batch_summary, sample_certificate_data


def test_canonical_json_is_sorted_fixed_and_parseable():
    data = sample_certificate_data("2S")
    raw = to_canonical_json(data)
    parsed = json.loads(raw)
    assert parsed["schema"] == "meterbench.certificate/1"
    assert list(parsed["data"]) == sorted(parsed["data"])
    assert b'"kh":7.200000' in raw  # fixed six decimals, not repr
    assert b" " not in raw.split(b'"')[0]


def test_hash_is_stable_and_survives_float_roundoff_from_a_database():
    data = sample_certificate_data("2S")
    p = data.points[0]
    # a value re-read from a database as 0.1 + 0.2 style noise must not change the hash
    noisy = dataclasses.replace(p, error_pct=p.error_pct + 1e-12)
    again = dataclasses.replace(data, points=(noisy, *data.points[1:]))
    assert content_hash(again) == content_hash(data)
    assert len(content_hash(data)) == 64


@pytest.mark.parametrize(
    "change",
    [
        lambda d: dataclasses.replace(d, certificate_number="MB-2026-999999"),
        lambda d: dataclasses.replace(
            d, points=(dataclasses.replace(d.points[0], error_pct=0.413), *d.points[1:])
        ),
        lambda d: dataclasses.replace(d, meter=dataclasses.replace(d.meter, serial="98765433")),
        lambda d: dataclasses.replace(d, overall_verdict="fail"),
    ],
)
def test_any_reported_change_changes_the_hash(change):
    data = sample_certificate_data("2S")
    assert content_hash(change(data)) != content_hash(data)


def test_bad_values_are_input_errors_naming_the_field():
    data = sample_certificate_data("9S")
    with pytest.raises(InputError, match="verdict"):
        dataclasses.replace(data.points[0], verdict="ok")
    with pytest.raises(InputError, match="certificate_number"):
        dataclasses.replace(data, certificate_number="../etc/passwd")
    with pytest.raises(InputError, match="stage"):
        dataclasses.replace(data.points[0], stage="after")
    with pytest.raises(InputError, match="finite"):
        dataclasses.replace(data.points[0], error_pct=float("nan"))
    with pytest.raises(InputError, match="receipt <= test <= issue"):
        dataclasses.replace(data.dates, issue=data.dates.receipt.replace(year=2020))
    with pytest.raises(InputError, match="duplicate"):
        dataclasses.replace(data, points=(data.points[0], data.points[0]))


def test_samples_are_consistent():
    two = sample_certificate_data("2S")
    assert two.stages == ("as-found", "as-left")
    assert two.has_unconfirmed_limits
    nine = sample_certificate_data("9S")
    assert nine.wiring is not None and {p.element for p in nine.points} == {"series", "A", "B", "C"}
    summary = sample_batch_summary()
    assert [r.content_hash for r in summary.rows] == [content_hash(two), content_hash(nine)]
    with pytest.raises(InputError, match="form"):
        sample_certificate_data("16S")
