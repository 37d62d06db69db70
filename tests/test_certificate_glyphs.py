"""A certificate whose text carries a character the embedded fonts cannot draw (ν in a pooled
repeatability basis, φ, an arrow) is still issued as PDF/A-2b: the character is spelled out, not drawn
as a .notdef glyph that PDF/A refuses (which left a whole run without certificates)."""

from __future__ import annotations

import dataclasses

from reports.layout import printable
from reports.samples import sample_certificate_data


def test_characters_without_a_glyph_are_spelled_out():
    assert printable("ν = 6, tan φ, 1 → 2") == "nu = 6, tan phi, 1 -> 2"
    assert printable("±0.5 % (k = 2) µ°") == "±0.5 % (k = 2) µ°"  # Vera draws these


def test_a_certificate_with_greek_in_its_deviations_conforms_to_pdfa(tmp_path):
    from reports.issue import issue_batch
    from reports.pdfa import check_pdfa

    data = sample_certificate_data()
    data = dataclasses.replace(data, deviations=(*data.deviations, "repeatability pooled, ν = 6; cot φ → 0"))
    result = issue_batch([data], tmp_path)
    assert not result.refused, [r.reason for r in result.refused]
    status = check_pdfa(result.issued[0].pdf_path)
    assert status.ok, status.messages
