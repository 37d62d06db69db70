"""A section heading never stands alone at the foot of a page with its content on the next (keep-with-next).

Rows added to the item's nameplate push every later section down a little at a time, so across these
certificates each heading of page 1 comes to every position near the foot of the page; before headings were
kept with their first line, "Deviations from the method", "Test conditions", "Method" and "Provenance of the
limits applied" were each left alone at the bottom of page 1 by some of them.
"""

from __future__ import annotations

import dataclasses

import pytest

from reports.certificate import render_certificate
from reports.samples import sample_certificate_data
from reports.verify import page_texts

HEADINGS = {
    "Item tested",
    "Method",
    "Provenance of the limits applied",
    "Deviations from the method",
    "Test conditions",
    "Reference standards and traceability",
    "Results",
    "Sign convention",
}


def _last_body_line(page: str, data) -> str:
    body = page.rsplit(f"{data.laboratory.name}\n{data.title}", 1)[0]  # the furniture is drawn last
    return [line for line in body.splitlines() if line.strip()][-1]


@pytest.mark.parametrize("form", ["2S", "9S"])
def test_no_page_ends_with_a_heading(form):
    base = sample_certificate_data(form)
    seen = set()
    for extra in range(24):
        data = dataclasses.replace(
            base, record_fields=tuple((f"Field {j}", f"value {j}") for j in range(2 * extra))
        )
        pages = page_texts(render_certificate(data, sha256="ab" * 32))
        for number, page in enumerate(pages[:-1], start=1):
            last = _last_body_line(page, data)
            assert last not in HEADINGS, (
                f"page {number} ends with the heading {last!r} ({2 * extra} extra rows)"
            )
        seen.update(h for h in HEADINGS if h in pages[1].split("\n", 3)[0])
    assert seen, "no section heading ever began page 2: the certificates did not exercise the page break"


def test_a_kept_heading_starts_the_next_page_with_its_first_line():
    data = sample_certificate_data("2S")
    data = dataclasses.replace(data, record_fields=tuple((f"Field {j}", f"value {j}") for j in range(14)))
    pages = page_texts(render_certificate(data, sha256="ab" * 32))
    assert pages[1].startswith("Deviations from the method\n- LL run before FL")
