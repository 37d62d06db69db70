import os

import pytest

# Qt tests run offscreen everywhere (CI has no display).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


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
