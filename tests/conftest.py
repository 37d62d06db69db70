import os

# Qt tests run offscreen everywhere (CI has no display).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
