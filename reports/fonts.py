"""Embedded TrueType fonts for every PDF we write (PDF/A forbids unembedded fonts).

Bitstream Vera ships inside reportlab (``reportlab/fonts``, Bitstream Vera licence: free to use and
embed). Registering it is not enough: reportlab's canvas starts in Helvetica (``initialFontName``) and its
graphics default to ``rl_config.defaultGraphicsFontName``; both silently fall back to the unembedded
Type 1 Helvetica, so :func:`register_fonts` also repoints the graphics default, and every Drawing string we
make names :data:`FONT` explicitly.

Importing this module also sets reportlab's production switches (:func:`production_settings`), so every
module that draws imports it before ``reportlab.graphics``.
"""

from __future__ import annotations

import os
import zlib
from functools import cache, lru_cache

from reportlab import rl_config

#: set to 1 to keep reportlab's attribute checking on while developing drawings
ENV_CHECKS = "MB_REPORTLAB_CHECKS"


def production_settings() -> None:
    """reportlab's switches for issuing, not for developing drawings.

    - ``shapeChecking`` off: every attribute set on a graphics shape is otherwise validated against its
      type map (9 % of a certificate's CPU). It must be off before ``reportlab.graphics.shapes`` is first
      imported for the shapes to drop their checking ``__setattr__``; later it still skips the checks.
    - ``useA85`` off: streams stay binary instead of ASCII85 text, which reportlab encodes in Python and
      pikepdf decodes again when it writes the PDF/A file.
    """
    checks = os.environ.get(ENV_CHECKS, "") not in ("", "0")
    rl_config.shapeChecking = 1 if checks else 0
    rl_config.useA85 = 0


production_settings()

FONT = "MBVera"
BOLD = "MBVera-Bold"
ITALIC = "MBVera-Italic"
BOLD_ITALIC = "MBVera-BoldItalic"
MONO = FONT  # Vera Sans Mono is not shipped by reportlab; hashes are printed in the sans face

_FILES = {FONT: "Vera.ttf", BOLD: "VeraBd.ttf", ITALIC: "VeraIt.ttf", BOLD_ITALIC: "VeraBI.ttf"}


@cache
def register_fonts() -> str:
    """Register the Vera family once per process and make it every reportlab default; returns FONT."""
    from reportlab import rl_config
    from reportlab.graphics import shapes
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    for name, filename in _FILES.items():
        font = TTFont(name, filename)
        _reuse_subsets(font.face)
        _reuse_font_objects(font)
        _split_ascii_at_once(font)
        pdfmetrics.registerFont(font)
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=ITALIC, boldItalic=BOLD_ITALIC)
    addMapping(FONT, 0, 0, FONT)
    addMapping(FONT, 1, 0, BOLD)
    addMapping(FONT, 0, 1, ITALIC)
    addMapping(FONT, 1, 1, BOLD_ITALIC)
    rl_config.defaultGraphicsFontName = FONT
    # shapes copies the default at import time, so the setting above alone would not reach Drawings
    shapes.STATE_DEFAULTS["fontName"] = FONT
    return FONT


#: font subsets (and their compressed streams) kept per face: a batch of certificates uses a few subsets
SUBSET_CACHE = 32


class _FontFlate:
    """reportlab's FlateDecode filter for embedded font files and their ToUnicode CMaps, remembering the
    last few it compressed."""

    pdfname = "FlateDecode"

    @staticmethod
    @lru_cache(maxsize=4 * SUBSET_CACHE)
    def encode(content: bytes | str) -> bytes:
        # as reportlab's PDFZCompress: text (a CMap) as UTF-8
        return zlib.compress(content.encode("utf8") if isinstance(content, str) else content)


def _reuse_subsets(face) -> None:
    """Make ``face`` build each font subset, and compress it, once per process rather than per PDF.

    Certificates of one template use the same characters in the same order, so reportlab makes the
    same subset (a new TrueType font of those glyphs, and its zlib stream) for every one: about 3 ms
    of each certificate. The subset is a pure function of the characters in slot order (``makeSubset``),
    so it is remembered by them; the bytes embedded are the bytes reportlab would have made.
    """
    make = lru_cache(maxsize=SUBSET_CACHE)(lambda key: original_make(list(key)))
    original_make, original_add = face.makeSubset, face.addSubsetObjects

    def make_subset(subset):
        return make(tuple(subset))

    def add_subset_objects(doc, fontname, subset):
        ref = original_add(doc, fontname, subset)
        stream = doc.idToObject.get(f"fontFile:{face.filename}({fontname})")
        if stream is not None and stream.filters:
            stream.filters = [_FontFlate]
        return ref

    face.makeSubset, face.addSubsetObjects = make_subset, add_subset_objects
    face.meterbench_subsets = make  # its cache_info() / cache_clear(), for the tests


@lru_cache(maxsize=4 * SUBSET_CACHE)
def _formatted_widths(widths: tuple, multiline: bool) -> bytes:
    from reportlab.pdfbase import pdfdoc

    array = pdfdoc.PDFArray(widths)
    array.multiline = multiline
    return array.format(None)  # numbers only: no document state goes into their text


def _reuse_font_objects(font) -> None:
    """Make ``font`` format each subset's /Widths array, and compress its /ToUnicode CMap, once per process.

    Like the subsets themselves (:func:`_reuse_subsets`), a template's certificates give every font the
    same subsets, so reportlab formatted the same 256 widths and compressed the same CMap for each PDF
    (1.4 ms of a certificate). Both are pure functions of the subset: the bytes written are the same."""
    from reportlab import rl_config
    from reportlab.pdfbase import pdfdoc

    class Widths(pdfdoc.PDFArray):
        def format(self, document, IND=b"\n "):
            if IND != b"\n ":
                return super().format(document, IND)
            multiline = bool((self.multiline and rl_config.pdfMultiLine) or self.multiline == "forced")
            return _formatted_widths(tuple(self.sequence), multiline)

    original = font.addObjects

    def add_objects(doc):
        original(doc)
        for obj in doc.idToObject["BasicFonts"].dict.values():
            if isinstance(obj, pdfdoc.PDFTrueTypeFont) and type(obj.Widths) is pdfdoc.PDFArray:
                if all(type(w) in (int, float) for w in obj.Widths.sequence):
                    obj.Widths = Widths(obj.Widths.sequence)
                cmap = doc.idToObject.get(f"toUnicodeCMap:{obj.BaseFont}")
                if cmap is not None and cmap.filters == [pdfdoc.PDFZCompress]:
                    cmap.filters = [_FontFlate]

    font.addObjects = add_objects


def _split_ascii_at_once(font) -> None:
    """Make ``font.splitString`` return a line of printable ASCII in one step.

    reportlab's TrueType fonts (ASCII-readable, its default) give every printable ASCII character it has
    its own code in subset 0 of every document, so such a line is ``[(0, its ASCII bytes)]``; reportlab
    finds that out character by character in Python for each line drawn (most certificate lines). Any
    other line (or a font without all of printable ASCII) still goes to reportlab's own."""
    from reportlab.pdfbase.ttfonts import TTFont

    chars = font.face.charToGlyph
    if not font._asciiReadable or not all(n in chars for n in range(32, 127)):  # noqa: SLF001
        return
    original, states = font.splitString, font.state

    def split_string(text, doc, encoding="utf-8"):
        if type(text) is not str or not text or not text.isascii() or not text.isprintable():
            return original(text, doc, encoding)
        if doc not in states:  # as reportlab's splitString makes it
            states[doc] = TTFont.State(font._asciiReadable, font)  # noqa: SLF001
        return [(0, text.encode("ascii"))]

    font.splitString = split_string


def forget_subsets() -> None:
    """Empty the subset caches (tests: a certificate made from cold caches is byte-for-byte the same)."""
    from reportlab.pdfbase import pdfmetrics

    for name in _FILES:
        pdfmetrics.getFont(name).face.meterbench_subsets.cache_clear()
    _FontFlate.encode.cache_clear()
    _formatted_widths.cache_clear()
