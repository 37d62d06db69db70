"""The DCC 3.3.0 schema check every DCC passes before it is issued.

The schema set ships inside the package (``reports/data/dcc-3.3.0``, sources and licences in its
README): PTB's ``dcc.xsd`` with its imports pointed at the local D-SI and XML-Signature copies, and the
QUDT type D-SI imports by URL resolved to the local file. Nothing is fetched from the network (the
parser has network access off, and every URL but QUDT's is left unresolved, so a schema that asked for
another would fail to load rather than go online).

The check is libxml2's XSD validator (through lxml): the schema is loaded once per process (about 12 ms)
and a DCC with an embedded certificate validates in about 1 ms, against about 30 ms with xmlschema. The
tests hold it to xmlschema's verdict on the same documents, valid and broken.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from procedures.errors import InputError

SCHEMA_DIR = Path(__file__).resolve().parent / "data" / "dcc-3.3.0"
#: where D-SI 2.2.1 imports the QUDT quantity-kind type from; answered with the local copy
QUDT_URL = "https://www.ptb.de/si/v2.2.1/qudt/quantitykind.xsd"


class _LocalSchemas(etree.Resolver):
    def resolve(self, url, pubid, context):
        if url == QUDT_URL:
            return self.resolve_filename(str(SCHEMA_DIR / "si" / "qudt" / "quantitykind.xsd"), context)
        return None  # relative imports are files in SCHEMA_DIR; anything else fails (no network)


@cache
def dcc_schema() -> etree.XMLSchema:
    """The DCC 3.3.0 schema, parsed once per process."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalSchemas())
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "dcc.xsd"), parser))


def dcc_problems(xml: bytes | etree._Element) -> list[str]:
    """Every schema violation of a DCC document, each as ``line N (element path): message``; [] if valid."""
    root = etree.fromstring(xml) if isinstance(xml, bytes) else xml
    schema = dcc_schema()
    if schema.validate(root):
        return []
    return [f"line {e.line} ({e.path}): {e.message}" for e in schema.error_log]


def check_dcc(xml: bytes, number: str) -> None:
    """Raise :class:`InputError` naming the first schema violation when the DCC of ``number`` is invalid."""
    problems = dcc_problems(xml)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(
            "DCC",
            f"does not conform to the DCC 3.3.0 schema, so it was not issued: {problems[0]}{more}",
            source=f"certificate {number}",
            allowed="a DCC that validates against reports/data/dcc-3.3.0/dcc.xsd",
        )
