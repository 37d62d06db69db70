import os
import tempfile

import pytest

# Qt tests run offscreen everywhere (CI has no display).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The technician a run names when a test gives none (CI's login account "root" is not a person's name).
os.environ.setdefault("MB_OPERATOR", "Test Technician")
# The audit key and chain anchors of the records tests' databases live in a throw-away folder, never in
# the user's config directory.
os.environ["MB_AUDIT_DIR"] = tempfile.mkdtemp(prefix="mb-audit-")
os.environ.pop("MB_AUDIT_KEY_FILE", None)
# Subprocesses (`python -m bench.cli ...`) import this checkout's code, not whichever tree the virtual
# environment's editable install points at (a second worktree would otherwise test the first one's code).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)


#: The PTB DCC 3.3.0 schema set (a copy of ../shared/schemas/dcc-3.3.0, kept in the repo so a clean clone
#: validates certificates offline; licences and sources in its README).
DCC_SCHEMA_DIR = os.path.join(os.path.dirname(__file__), "data", "dcc-3.3.0")


@pytest.fixture(scope="session")
def dcc_schema():
    """The DCC 3.3.0 schema, loaded without network access (QUDT pointed at the local copy)."""
    import xmlschema

    return xmlschema.XMLSchema(
        os.path.join(DCC_SCHEMA_DIR, "dcc.xsd"),
        allow="local",
        locations=[
            ("http://qudt.org/vocab/", os.path.join(DCC_SCHEMA_DIR, "si", "qudt", "quantitykind.xsd"))
        ],
    )


@pytest.fixture(autouse=True)
def _no_refused_commands(request):
    """Fail a test whose driver sent a simulated instrument something the real unit would refuse.

    A test that sends wrong commands on purpose marks itself ``@pytest.mark.refusals_ok`` or calls
    ``instrument.expect_refusal(prefix)``; injected faults never count.
    """
    from instruments.sim import protocol

    before = set(map(id, protocol.LIVE))
    yield
    if request.node.get_closest_marker("refusals_ok"):
        return
    new = [inst for inst in list(protocol.LIVE) if id(inst) not in before]
    bad = protocol.refusals(new)
    if bad:
        lines = [f"{inst.model}: {e.message!r} refused: {e.why}" for inst, e in bad[:10]]
        pytest.fail("a simulated instrument refused commands the driver sent:\n" + "\n".join(lines))
