"""Laboratory identity from TOML, the demo default, and `meterbench keys init`."""

import pytest

from bench.cli import main
from procedures.errors import InputError
from reports.labconfig import DEMO_ACCREDITATION, default_laboratory, load_laboratory
from reports.signing import ENV_PASSPHRASE, load_signer

GOOD = """
[laboratory]
name = "Riverside Electric Meter Shop"
address = ["410 Grid Avenue", "Building 3"]
city = "Springfield, IL 62701"
country_code = "US"
accreditation = "A2LA 1234.01"
place_of_test = "Meter shop, Springfield"
email = "shop@example.org"

[[signatories]]
name = "Morgan Reyes"
role = "Supervisor"
"""


def test_default_lab_is_plainly_a_demo():
    lab = default_laboratory()
    assert "Demonstration" in lab.name and lab.accreditation == DEMO_ACCREDITATION
    assert "demonstration only" in lab.accreditation


def test_load_laboratory(tmp_path):
    path = tmp_path / "lab.toml"
    path.write_text(GOOD)
    lab = load_laboratory(path)
    assert lab.address == ("410 Grid Avenue", "Building 3")
    assert lab.signatories[0].name == "Morgan Reyes" and lab.logo_path is None


@pytest.mark.parametrize(
    "text, field",
    [
        (GOOD.replace('country_code = "US"', 'country_code = "USA"'), "country_code"),
        (GOOD.replace('accreditation = "A2LA 1234.01"', 'accreditation = ""'), "laboratory.accreditation"),
        (GOOD.replace("[laboratory]", "[laboratory]\nlogo = 'missing.png'"), "laboratory.logo"),
        (GOOD.replace("[laboratory]", "[laboratory]\ncolour = 'blue'"), "unknown keys"),
        ("[laboratory\n", "not valid TOML"),
    ],
)
def test_bad_lab_files_name_the_field(tmp_path, text, field):
    path = tmp_path / "lab.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=field) as err:
        load_laboratory(path)
    assert str(path) in str(err.value)


def test_keys_init_creates_a_usable_identity(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ENV_PASSPHRASE, "s3cret")
    assert main(["keys", "init", "--dir", str(tmp_path / "id"), "--name", "Bench 7"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "id" / "identity.p12") in out and "certificate.pem" in out
    signer = load_signer(tmp_path / "id" / "identity.p12")
    assert "Bench 7" in signer.signing_cert.subject.human_friendly
    assert main(["keys", "init", "--dir", str(tmp_path / "id")]) == 2  # never overwrites


def test_keys_init_without_passphrase_source_is_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ENV_PASSPHRASE, raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    assert main(["keys", "init", "--dir", str(tmp_path / "id")]) == 2
    assert ENV_PASSPHRASE in capsys.readouterr().err
    assert not (tmp_path / "id").exists()
