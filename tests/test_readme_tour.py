"""The README's short tour, run exactly as written in a fresh folder with a fresh home: every command
works (exit 0, or 1 where the README says a meter fails) and none prints a traceback."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tour_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## A short tour", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    out = []
    for line in block.strip().splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()  # a comment is two spaces and a hash
        if line:
            out.append(line)
    return out


def test_the_tour_runs_top_to_bottom(tmp_path):
    work = tmp_path / "shop"
    shutil.copytree(ROOT / "examples", work / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MB_")}
    for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        env.pop(key, None)
    # a person types the passphrase at the prompt; the test gives it the way a script would
    env.update(HOME=str(tmp_path / "home"), COLUMNS="80", PYTHONPATH=str(ROOT), MB_SIGNING_PASSPHRASE="tour")
    commands = tour_commands()
    assert len(commands) >= 10 and commands[0] == "meterbench plans"
    commands = ["meterbench demo", *commands]  # the README's first command runs first, in the same folder
    for command in commands:
        argv = [os.path.expanduser(a) if a.startswith("~") else a for a in shlex.split(command)]
        argv = [a.replace(os.path.expanduser("~"), env["HOME"], 1) for a in argv]
        assert argv[0] == "meterbench"
        if any("*" in a for a in argv):  # the shell's glob, as a user's shell would expand it
            argv = argv[:1] + [str(p) for a in argv[1:] for p in (sorted(work.glob(a)) if "*" in a else [a])]
        done = subprocess.run([sys.executable, "-m", "bench.cli", *argv[1:]], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        allowed = {0, 1} if argv[1] in ("run", "diagnose", "retest") else {0}
        assert done.returncode in allowed, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr, command
