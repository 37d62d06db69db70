"""Meter forms: the shipped catalog loads, and each form's wiring gives the power a correctly wired
service delivers (what the meter must register)."""

import math

import pytest

from procedures.errors import InputError
from procedures.forms import correct_service, element_phasors, get_form, load_forms, shipped_forms
from procedures.phasors import lag_deg, phasor, power

REQUIRED = ["1S", "2S", "3S", "4S", "5S", "9S", "12S", "16S"]


def test_required_forms_ship():
    assert set(REQUIRED) <= set(shipped_forms())


@pytest.mark.parametrize(
    "name,elements", [("1S", 1), ("2S", 1), ("3S", 1), ("5S", 2), ("9S", 3), ("12S", 2), ("16S", 3)]
)
def test_element_counts(name, elements):
    assert get_form(name).n_elements == elements


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("lag", [0.0, 60.0])
@pytest.mark.parametrize("rotation", ["ABC", "CBA"])
def test_correct_service_registers_true_power(name, lag, rotation):
    """Sum of element watts equals the service's true power for a balanced load.

    Worked example, 2S at 240 V, 30 A, PF 1: VA = 120/0, VB = 120/180, IA = 30/0, IB = 30/180.
    Element voltage VA - VB = 240/0, current 0.5*IA - 0.5*IB = 30/0, watts 240*30 = 7200 W, and
    the true power VA.IA + VB.IB = 3600 + 3600 = 7200 W.
    """
    form = get_form(name)
    v_elem = form.nominal_voltages[0]
    volts, amps = correct_service(form, v_elem, 10.0, lag, rotation)
    registered = sum(power(v, i).real for _, v, i in element_phasors(form, volts, amps))
    true = sum(power(volts[p], amps[p]).real for p in amps)
    assert registered == pytest.approx(true, rel=1e-12)
    # each element sees its nameplate voltage
    for _, v, _ in element_phasors(form, volts, amps):
        assert abs(v) == pytest.approx(v_elem, rel=1e-12)


def test_2s_worked_example():
    form = get_form("2S")
    volts, amps = correct_service(form, 240.0, 30.0, 0.0)
    [(_, v, i)] = element_phasors(form, volts, amps)
    assert abs(v) == pytest.approx(240.0)
    assert abs(i) == pytest.approx(30.0)
    assert power(v, i).real == pytest.approx(7200.0)


def test_5s_elements_are_30_degrees_off_at_unity():
    """Delta elements see +-30 deg at PF 1: P = 2 * V * I * cos 30 = sqrt(3) * V * I."""
    form = get_form("5S")
    volts, amps = correct_service(form, 240.0, 5.0, 0.0)
    els = element_phasors(form, volts, amps)
    angles = sorted(round((lag_deg(i) - lag_deg(v)) % 360) for _, v, i in els)
    assert angles == [30, 330]
    assert sum(power(v, i).real for _, v, i in els) == pytest.approx(math.sqrt(3) * 240 * 5)


def test_lagging_convention():
    # a current at 60 deg lags: P = 0.5 VA, Q positive (inductive)
    s = power(phasor(1, 0), phasor(1, 60))
    assert s.real == pytest.approx(0.5) and s.imag == pytest.approx(math.sqrt(3) / 2)
    assert lag_deg(phasor(1, 240)) == pytest.approx(240)


def test_unknown_form_names_allowed_forms():
    with pytest.raises(InputError) as exc:
        get_form("7Q")
    assert "form" in str(exc.value) and "2S" in str(exc.value) and "16S" in str(exc.value)


def test_bad_forms_file_names_entry_and_field(tmp_path):
    p = tmp_path / "forms.toml"
    p.write_text(
        '[forms.X1]\ntitle="x"\nservice="1-phase 2-wire"\nconnection="plug-in"\nnominal_voltages=[120.0]\n'
        'current_classes=["CL100"]\ntypical_class="CL100"\nblondel=true\nelements=[]\n'
    )
    with pytest.raises(InputError) as exc:
        load_forms(p)
    msg = str(exc.value)
    assert str(p) in msg and "forms.X1.connection" in msg and "self-contained" in msg


def test_non_text_form_is_input_error():
    with pytest.raises(InputError):
        get_form(["9S"])  # type: ignore[arg-type]
