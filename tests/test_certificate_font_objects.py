"""The font objects formatted once per process (each subset's /Widths, its compressed /ToUnicode CMap) and
the lines of ASCII text split into subsets at once, and each line's text operators appended at once, are the
bytes reportlab writes when it makes them its own way: a certificate is the same file either way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RENDER = """
import sys
from reportlab import rl_config
rl_config.invariant = 1  # no dates or random file identifier: the same document gives the same bytes
import reports.fonts as fonts
if sys.argv[1] == "afresh":
    fonts._reuse_font_objects = lambda font: None  # reportlab's own formatting, every time
    fonts._split_ascii_at_once = lambda font: None  # and its own splitting of each line into subsets
    import reports.layout as layout
    def line_at(text, x, y, line):  # and its own calls for each line of text
        text.setTextOrigin(x, y)
        text.textLine(line)
    layout._line_at = line_at
from reports.certificate import render_certificate
from reports.samples import sample_certificate_data
out = b""
for k, form in enumerate(("2S", "9S", "2S")):
    data = sample_certificate_data(form, certificate_number=f"F-{k}", serial=f"S{k}")
    out += render_certificate(data, sha256="ab" * 32)
if sys.argv[1] == "once":  # the later certificates did reuse the first one's font objects
    assert fonts._formatted_widths.cache_info().hits >= 3 and fonts._FontFlate.encode.cache_info().hits >= 6
sys.stdout.buffer.write(out)
"""


def _render(how: str) -> bytes:
    run = subprocess.run([sys.executable, "-c", RENDER, how], cwd=ROOT, capture_output=True, check=True)
    return run.stdout


def test_certificates_with_font_objects_formatted_once_are_the_same_bytes():
    once, afresh = _render("once"), _render("afresh")
    assert b"/ToUnicode" in once and b"/Widths" in once
    assert once == afresh


def test_lines_split_at_once_are_split_as_reportlab_splits_them():
    from reportlab.pdfbase import pdfdoc, pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from reports.fonts import BOLD, FONT, register_fonts

    register_fonts()
    lines = ["Overall result: PASS", "", " ", "±0.50 %", "23.1 °C", "tab\there", "A~z{|}", "\u00a0nbsp", "x" * 300,
             "Error (%)", "\x7f", "—end—", "plain ASCII after the others"]  # fmt: skip
    for name in (FONT, BOLD):
        font = pdfmetrics.getFont(name)
        ours, theirs = pdfdoc.PDFDocument(), pdfdoc.PDFDocument()
        got = [font.splitString(line, ours) for line in lines]
        want = [TTFont.splitString(font, line, theirs) for line in lines]
        assert got == want
        assert font.state[ours].subsets == font.state[theirs].subsets
