"""The main window's tabs, one module each (mixins of :class:`bench.gui.window.MainWindow`)."""

from __future__ import annotations

PASSES_AS_LEFT = ("as-found", "as-left")
TABS = ("&1 Run", "&2 Results", "&3 Meters", "&4 Plan", "&5 History", "&6 Certificates", "&7 Settings")
RECHECK_AFTER_MS = 1500
OUTCOMES = ("any", "passed", "failed", "aborted", "error", "interrupted", "running")
