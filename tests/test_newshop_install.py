"""What a new shop's first install needs: the licence, --version, dependencies, and Qt's system libraries."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest

from bench import cli
from bench.commands import gui

ROOT = Path(__file__).resolve().parents[1]


def test_licence_file_is_the_apache_2_text_the_package_declares():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"]["text"] == "Apache-2.0"
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_version_option_prints_the_package_version(capsys):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"meterbench {version}"


def test_first_install_command_brings_the_bench_application_and_xlsx_export():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].split("<")[0].strip().lower() for d in deps}
    assert {"openpyxl", "pyside6-essentials", "pyqtgraph"} <= names


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libEGL.so.1", "libegl1"),
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
    ],
)
def test_missing_library_named_by_its_debian_package(soname, package):
    assert gui.debian_package(soname) == package


def _fake_files(platform):
    return [Path("QtWidgets.abi3.so"), Path(f"plugins/platforms/{gui._PLUGINS[platform or 'xcb']}")]


def test_missing_xcb_libraries_give_one_apt_get_line():
    missing = {"QtWidgets.abi3.so": [], "libqxcb.so": ["libxcb-cursor.so.0", "libxcb-icccm.so.4",
                                                       "libxcb-keysyms.so.1", "libxcb-icccm.so.4"]}  # fmt: skip
    text = gui.qt_problem({"DISPLAY": ":0"}, missing_for=lambda p: missing[p.name], files=_fake_files)
    assert "\n" not in text
    assert text.count("apt-get install") == 1
    assert text.endswith("sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1")


def test_offscreen_needs_only_the_offscreen_plugin_and_widgets():
    seen = []

    def missing_for(path):
        seen.append(path.name)
        return ["libxcb-icccm.so.4"] if path.name == "libqxcb.so" else []

    assert (
        gui.qt_problem({"QT_QPA_PLATFORM": "offscreen"}, missing_for=missing_for, files=_fake_files) is None
    )
    assert "libqoffscreen.so" in seen and "libqxcb.so" not in seen


def test_a_wayland_session_starts_when_either_plugin_loads():
    def missing_for(path):
        return ["libxcb-icccm.so.4"] if path.name == "libqxcb.so" else []

    env = {"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}
    assert gui.qt_problem(env, missing_for=missing_for, files=_fake_files) is None
    both = gui.qt_problem(env, missing_for=lambda p: ["libxkbcommon.so.0"], files=_fake_files)
    assert both.endswith("sudo apt-get install libxkbcommon0")


def test_no_display_says_so_instead_of_a_qt_abort():
    text = gui.qt_problem({}, missing_for=lambda p: [], files=_fake_files)
    assert "DISPLAY is not set" in text and "QT_QPA_PLATFORM=offscreen" in text


def test_the_real_offscreen_plugin_is_checked_and_loads_here():
    files = gui.qt_files("offscreen")
    assert files[-1].name == "libqoffscreen.so" and files[-1].exists()
    assert gui.qt_problem({"QT_QPA_PLATFORM": "offscreen"}) is None


def test_no_pyside_says_how_to_install():
    text = gui.qt_problem({"DISPLAY": ":0"}, files=lambda platform: [])
    assert "PySide6" in text and "pip install" in text


def test_gui_command_prints_the_line_and_opens_no_window(monkeypatch, capsys):
    monkeypatch.setattr(gui, "qt_problem", lambda: "Qt (xcb display) cannot load libxcb-icccm.so.4; "
                        "install them with: sudo apt-get install libxcb-icccm4")  # fmt: skip
    monkeypatch.setattr("bench.gui.main", lambda *a, **k: pytest.fail("the window must not open"))
    parser = argparse.ArgumentParser()
    gui.register(parser.add_subparsers())
    code = gui.run(parser.parse_args(["gui"]))
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "meterbench gui: error: Qt (xcb display) cannot load libxcb-icccm.so.4; "
        "install them with: sudo apt-get install libxcb-icccm4"
    ]
