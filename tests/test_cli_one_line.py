"""Bad values typed on the command line are one line naming the option and what it takes (not argparse's
usage block), and `plans show` needs no option the plan answers itself."""

from __future__ import annotations

import pytest

from bench.cli import main


@pytest.mark.parametrize(
    "argv,line",
    [
        (["run", "--bench", "b.toml", "--plan", "p", "--temperature", "abc"],
         "meterbench run: error: --temperature: not a number (found 'abc'); allowed: a number, e.g. 22.5"),
        (["runs", "--limit", "x"],
         "meterbench runs: error: --limit: not a whole number (found 'x'); allowed: a whole number, e.g. 3"),
        (["diagnose", "--form", "9S", "--phasors", "f.json", "--convention", "sideways"],
         "meterbench diagnose: error: --convention: not one of its choices (found 'sideways'); "
         "allowed: lagging, leading"),
    ],
)  # fmt: skip
def test_a_mistyped_value_is_one_line(argv, line, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == line


def test_a_missing_required_option_still_shows_the_usage(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--bench", "b.toml"])
    err = capsys.readouterr().err
    assert err.startswith("usage: meterbench run") and "required: --plan" in err


def test_plans_show_uses_the_plans_only_form_and_lists_its_classes(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["plans", "show", "ansi-c12.20-2s", "--class", "0.2"]) == 0
    assert "form 2S, class 0.2" in capsys.readouterr().out
    assert main(["plans", "show", "ansi-c12.20-2s"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "meterbench plans: error: --class: is needed: plan ansi-c12.20-2s covers several accuracy classes; "
        "allowed: 0.1 0.2 0.5"
    )
