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
from functools import cache

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
        pdfmetrics.registerFont(TTFont(name, filename))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=ITALIC, boldItalic=BOLD_ITALIC)
    addMapping(FONT, 0, 0, FONT)
    addMapping(FONT, 1, 0, BOLD)
    addMapping(FONT, 0, 1, ITALIC)
    addMapping(FONT, 1, 1, BOLD_ITALIC)
    rl_config.defaultGraphicsFontName = FONT
    # shapes copies the default at import time, so the setting above alone would not reach Drawings
    shapes.STATE_DEFAULTS["fontName"] = FONT
    return FONT
