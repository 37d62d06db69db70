"""meterbench gui: open the bench application (load meters, run plans, watch, certify).

Before Qt is imported, the shared libraries that Qt's widgets and its display plugin load are checked, so a
desktop missing one gets a single ``apt-get install`` line instead of Qt's traceback (Qt itself blames
only the first library it misses, e.g. xcb-cursor0, when libxcb-icccm4 and libxcb-keysyms1 are missing too).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from procedures.errors import InputError

ORDER = 5

#: Debian/Ubuntu packages whose name does not follow the rule "libfoo.so.N -> libfooN" (Debian policy
#: §8.1: the package is named after the soname; a '-' separates a name that ends in a digit).
_DEBIAN_EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
}
#: Qt's platform plugin file per QT_QPA_PLATFORM value (unset on Linux means xcb, the X11 plugin).
_PLUGINS = {
    "xcb": "libqxcb.so",
    "offscreen": "libqoffscreen.so",
    "wayland": "libqwayland.so",
    "minimal": "libqminimal.so",
    "vnc": "libqvnc.so",
    "eglfs": "libqeglfs.so",
}


def debian_package(soname: str) -> str:
    """The Debian package that ships a shared library: libxcb-icccm.so.4 -> libxcb-icccm4."""
    if soname in _DEBIAN_EXCEPTIONS:
        return _DEBIAN_EXCEPTIONS[soname]
    m = re.fullmatch(r"(lib.+?)\.so\.(\d+)(?:\..*)?", soname)
    if not m:
        return soname
    name, version = m.group(1).lower(), m.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def _ldd_missing(path: Path) -> list[str]:
    """Libraries the dynamic linker cannot find for ``path`` (its whole dependency tree), via ldd."""
    ldd = shutil.which("ldd")
    if not ldd or not path.exists():
        return []
    try:
        out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [m.group(1) for m in re.finditer(r"^\s*(\S+)\s+=>\s+not found", out, re.M)]


def qt_files(platform: str | None) -> list[Path]:
    """The Qt binaries ``meterbench gui`` loads: the widgets module and the display plugin it will use."""
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    name = re.split(r"[;:]", platform or "xcb", maxsplit=1)[0].strip() or "xcb"
    files = sorted(root.glob("QtWidgets*.so")) + sorted(root.glob("QtGui*.so"))
    plugin = root / "Qt" / "plugins" / "platforms" / _PLUGINS.get(name, f"libq{name}.so")
    return files + [plugin]


def qt_problem(
    env: dict | None = None,
    *,
    missing_for: Callable[[Path], list[str]] = _ldd_missing,
    files: Callable[[str | None], list[Path]] = qt_files,
) -> str | None:
    """One line saying what stops Qt from starting and the command that fixes it, or None when nothing does.

    ``QT_QPA_PLATFORM`` picks the display plugin checked (``offscreen`` needs no X11 libraries). Unset, Qt
    uses xcb (X11), or on a Wayland session wayland first and xcb when wayland cannot load: Qt starts when
    either plugin loads, and the line names what xcb, the usual plugin, is missing.
    """
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM") or None
    wayland = bool(env.get("WAYLAND_DISPLAY"))
    if platform is None and not env.get("DISPLAY") and not wayland:
        return (
            "there is no display to open the window on (DISPLAY is not set): start it from the desktop, "
            "or with QT_QPA_PLATFORM=offscreen for a window nobody sees"
        )
    candidates = [platform] if platform else (["wayland", "xcb"] if wayland else ["xcb"])
    missing: list[str] = []
    for name in candidates:
        paths = files(name)
        if not paths:
            return (
                "the bench application's Qt package (PySide6) is not installed; install MeterBench with its "
                "dependencies: pip install -e ."
            )
        missing = list(dict.fromkeys(lib for path in paths for lib in missing_for(path)))
        if not missing:
            return None
    packages = list(dict.fromkeys(debian_package(lib) for lib in missing))
    return (
        f"Qt ({candidates[-1]} display) cannot load {', '.join(missing)}; install them with: "
        f"sudo apt-get install {' '.join(packages)}"
    )


def run(args) -> int:
    problem = qt_problem()
    if problem:
        print(f"meterbench gui: error: {problem}", file=sys.stderr)
        return 2
    from bench.gui import main
    from bench.gui.settings import GuiSettings

    if args.speed is not None and args.speed < 0:
        raise InputError(
            "--speed", "must be >= 0", allowed="0 (virtual time) or a positive factor", found=args.speed
        )
    settings = GuiSettings(
        bench_file=args.bench or "",
        db_url=args.db,
        lab_file=args.lab or "",
        signing_identity=args.identity or "",
        speed=args.speed,
        operator=args.operator,
    )
    if args.warmup is not None and args.warmup < 0:
        raise InputError("--warmup", "must be >= 0", allowed="bench seconds, e.g. 60", found=args.warmup)
    settings.as_left, settings.warmup_s = args.as_left, args.warmup or 0.0
    if args.certificates:
        settings.certificates_dir = args.certificates
    if settings.bench_file:
        from instruments.benchfile import load_bench_config

        load_bench_config(settings.bench_file)  # a bad bench file is an InputError here, exit 2
    return main(settings)


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("gui", help="open the bench application (window)", description=__doc__)
    p.add_argument("--bench", metavar="FILE", help="bench file (TOML), e.g. examples/2s-board.toml")
    p.add_argument("--db", metavar="URL", help="records database URL (default: SQLite in the user data dir)")
    p.add_argument("--lab", metavar="FILE", help="laboratory identity TOML (default: demonstration lab)")
    p.add_argument("--identity", metavar="P12", help="signing identity for certificates (.p12)")
    p.add_argument("--certificates", metavar="DIR", help="certificate folder (default: ./certificates)")
    p.add_argument("--operator", default="", help="who runs the tests (default: the login name)")
    p.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulation speed: 0 = virtual time, N = N x real time (default: the bench file's)",
    )
    p.add_argument(
        "--as-left",
        action="store_true",
        help="preselect as-found + as-left (the window asks before the as-left pass)",
    )
    p.add_argument("--warmup", type=float, metavar="SECONDS", help="preselect a warm-up (bench seconds)")
    p.set_defaults(func=run)
    return p
