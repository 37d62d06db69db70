"""The certificate's QR code as drawn: every dark module filled once, inside its square, and nothing else."""

from __future__ import annotations

import io

import pikepdf
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from reports.certificate import qr_payload
from reports.graphics import QrCode


def test_the_drawn_qr_code_fills_exactly_its_dark_modules_in_its_square():
    qr = QrCode(qr_payload("MB-20260101-00001-ABCD-P01", "ab" * 32), 30 * mm, level="M")
    buf = io.BytesIO()
    c = Canvas(buf)
    qr.drawOn(c, 100, 200)
    c.showPage()
    c.save()
    with pikepdf.open(io.BytesIO(buf.getvalue())) as pdf:
        ops = pikepdf.parse_content_stream(pdf.pages[0])
    ctm = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    filled, rects = set(), []
    for operands, op in ops:
        if str(op) == "cm":
            a, b, cc, d, e, f = (float(x) for x in operands)
            A, B, C, D, E, F = ctm
            ctm = [
                a * A + b * C,
                a * B + b * D,
                cc * A + d * C,
                cc * B + d * D,
                e * A + f * C + E,
                e * B + f * D + F,
            ]
        elif str(op) == "re":
            rects.append((*(float(x) for x in operands), tuple(ctm)))
        elif str(op) in ("f", "f*"):
            filled.update(rects)
            rects = []
    n = len(qr.modules)
    box = 30 * mm / (n + 2 * qr.border)
    drawn = [[0] * n for _ in range(n)]
    for x, y, w, h, (a, _b, _c, d, e, f) in filled:
        # corners on the page, in points
        x0, x1 = sorted((a * x + e, a * (x + w) + e))
        y0, y1 = sorted((d * y + f, d * (y + h) + f))
        col0, col1 = round((x0 - 100) / box) - qr.border, round((x1 - 100) / box) - qr.border
        top = 200 + 30 * mm
        row0, row1 = round((top - y1) / box) - qr.border, round((top - y0) / box) - qr.border
        assert abs((x1 - x0) - (col1 - col0) * box) < 1e-3 and abs((y1 - y0) - (row1 - row0) * box) < 1e-3
        for r in range(row0, row1):
            for k in range(col0, col1):
                drawn[r][k] += 1
    assert drawn == [[int(m) for m in row] for row in qr.modules]
