"""The shortcuts that make a batch of certificates fast give the same bytes as the long way."""

from __future__ import annotations

import dataclasses

import pytest

from reports.dcc import build_dcc, dcc_data_hash
from reports.issue import exclusive_c14n_hash, issued_dcc_hash
from reports.model import Customer, content_hash
from reports.samples import sample_certificate_data


@pytest.mark.parametrize("form", ["2S", "9S"])
@pytest.mark.parametrize(
    "customer",
    [
        "Riverside Electric Cooperative",
        "  A & B <Utilities> \"quoted\" 'single'  ",
        "Stadtwerke M\u00fcnchen\u00a0GmbH \u2014 Z\u00e4hlerwerkstatt\r\nline two\t",
    ],
)
def test_the_issued_dcc_hash_is_the_hash_verify_recomputes(form, customer):
    data = dataclasses.replace(sample_certificate_data(form), customer=Customer(customer, ("  1 Main St ",)))
    sha = content_hash(data)
    for pdf in (None, b"%PDF-1.7 not really"):
        xml = build_dcc(data, sha, pdf_bytes=pdf, audit_head="12:" + "ab" * 32)
        assert exclusive_c14n_hash(xml) == dcc_data_hash(xml) == issued_dcc_hash(xml)
