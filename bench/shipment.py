"""Shipment files: the CSV a vendor sends with a batch of meters, turned into manifests a board loads.

A vendor's file lists one meter a row under the vendor's own headers (and often a few preamble lines). A
small TOML map says which vendor column is which manifest field, which vendor catalog numbers are which
meter types, and values that hold for the whole shipment:

    vendor = "Example Meter Co."
    header_row = 3                 # the line holding the column headers (1 = the first line)
    delimiter = ","                # "," ";" "\\t" or "|"

    [columns]                      # manifest field = the vendor's column header
    serial = "Meter Serial No"
    meter_type = "Catalog No"      # looked up in [meter_types] first, then as a meter type id
    firmware = "FW Rev"
    "record.purchase_order" = "PO Number"

    [meter_types]                  # the vendor's catalog number = a meter type id
    "EX2S-200-A" = "example-2s-cl200"

    [defaults]                     # manifest fields the file does not carry
    customer = "Springfield Electric Co-op"

Every row is checked as a board would check it (:func:`bench.meters.make_meter`, with its meter type) and
every bad row gives one line naming the row and the vendor's column; nothing is written while any is bad.
The result is one manifest per board of ``positions`` meters, positions 1.. in the file's order.
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.meters import MANIFEST_FIELDS, RECORD_NAME_RE, RECORD_PREFIX, check_serial, make_meter
from procedures.catalog import Fields, read_toml
from procedures.errors import InputError

MAP_KEYS = ("vendor", "header_row", "delimiter", "encoding", "columns", "meter_types", "defaults")
DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class ShipmentMap:
    """How one vendor's shipment file maps onto manifest fields."""

    vendor: str
    columns: dict[str, str]  # manifest field -> vendor header
    meter_types: dict[str, str] = field(default_factory=dict)  # vendor catalog number -> meter type id
    defaults: dict[str, str] = field(default_factory=dict)
    header_row: int = 1
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    source: str = ""


def _field_ok(name: str) -> bool:
    if name.startswith(RECORD_PREFIX):
        return bool(RECORD_NAME_RE.match(name[len(RECORD_PREFIX) :]))
    return name in MANIFEST_FIELDS and name != "position"


def _check_field(f: Fields, key: str) -> None:
    if not _field_ok(key):
        known = [k for k in MANIFEST_FIELDS if k != "position"]
        near = difflib.get_close_matches(key, known, 1, 0.6)
        raise f.error(
            key,
            "is not a manifest field" + (f" (did you mean {near[0]!r}?)" if near else ""),
            allowed=", ".join(known) + f", or {RECORD_PREFIX}<name>",
        )


def load_map(path: str | Path) -> ShipmentMap:
    """A shipment map (TOML), every key checked; an unknown one names the nearest valid key."""
    data, src, _ = read_toml(path, "", "", "shipment map")
    f = Fields(data, "map", src)
    for key in f.raw:
        if key not in MAP_KEYS:
            near = difflib.get_close_matches(str(key), MAP_KEYS, 1, 0.6)
            raise f.error(
                str(key),
                "is not a shipment-map key" + (f" (did you mean {near[0]!r}?)" if near else ""),
                allowed=", ".join(MAP_KEYS),
            )
    cols = Fields(f.get("columns", dict, what="a [columns] table"), "columns", src)
    for key, header in cols.raw.items():
        _check_field(cols, key)
        if not isinstance(header, str) or not header.strip():
            raise cols.error(key, "must be the vendor's column header (text)", found=header)
    if "serial" not in cols.raw:
        raise cols.error("serial", "is missing: the vendor column holding the serial number is required")
    defaults = Fields(f.get("defaults", dict, {}, what="a [defaults] table"), "defaults", src)
    for key in defaults.raw:
        _check_field(defaults, key)
    types = f.get("meter_types", dict, {}, what="a [meter_types] table")
    delimiter = f.text("delimiter", ",")
    if delimiter not in DELIMITERS:
        raise f.error("delimiter", "unknown value", allowed='",", ";", "\\t" or "|"', found=delimiter)
    header_row = f.get("header_row", int, 1, what="a whole number")
    if header_row < 1:
        raise f.error("header_row", "must be at least 1", found=header_row)
    return ShipmentMap(
        vendor=f.text("vendor", ""),
        columns={k: v.strip() for k, v in cols.raw.items()},
        meter_types={str(k): str(v) for k, v in types.items()},
        defaults={k: str(v) for k, v in defaults.raw.items()},
        header_row=header_row,
        delimiter=delimiter,
        encoding=f.text("encoding", "utf-8-sig"),
        source=src,
    )


@dataclass(frozen=True)
class Shipment:
    """The rows of a shipment file as manifest rows (no positions yet), or the errors that stop it."""

    rows: list[dict]
    errors: list[InputError]
    source: str


def read_shipment(path: str | Path, mapping: ShipmentMap, *, types=None, text: str | None = None) -> Shipment:
    """Every row of a vendor's file as a manifest row, each checked; errors name the row and the column."""
    src = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding=mapping.encoding)
        except (OSError, UnicodeDecodeError, LookupError) as exc:
            raise InputError(
                "shipment", f"cannot be read: {getattr(exc, 'strerror', None) or exc}", source=src
            ) from exc
    lines = text.splitlines(keepends=True)
    if len(lines) < mapping.header_row:
        raise InputError(
            "header_row", f"is line {mapping.header_row}, but the file has {len(lines)} line(s)", source=src
        )
    reader = csv.reader(io.StringIO("".join(lines[mapping.header_row - 1 :])), delimiter=mapping.delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        header = []
    missing = [h for h in mapping.columns.values() if h not in header]
    if missing:
        raise InputError(
            f"line {mapping.header_row}",
            "lacks columns the shipment map names",
            source=src,
            found=missing,
            allowed=", ".join(h for h in header if h) or "no columns found",
        )
    column_of = {fld: header.index(h) for fld, h in mapping.columns.items()}
    header_of = dict(mapping.columns)
    rows, errors, serials = [], [], {}
    for n, cells in enumerate(reader, start=mapping.header_row + 1):
        if not any(c.strip() for c in cells):
            continue  # blank line
        where = f"{src} row {n}"
        raw = dict(mapping.defaults)
        for fld, i in column_of.items():
            value = cells[i].strip() if i < len(cells) else ""
            if value:
                raw[fld] = value
        if raw.get("meter_type") in mapping.meter_types:
            raw["meter_type"] = mapping.meter_types[raw["meter_type"]]
        try:
            raw["serial"] = check_serial(raw.get("serial"), f"column {header_of['serial']!r}", where)
            if raw["serial"] in serials:
                raise InputError(
                    f"column {header_of['serial']!r}",
                    f"repeats the serial of row {serials[raw['serial']]}",
                    source=where,
                    found=raw["serial"],
                )
            serials[raw["serial"]] = n
            make_meter({**raw, "position": 1}, source=where, types=types)
        except InputError as exc:
            errors.append(_in_vendor_terms(exc, header_of, mapping, raw))
            continue
        rows.append(raw)
    if not rows and not errors:
        errors.append(InputError("shipment", "has no meter rows below its header", source=src))
    return Shipment(rows, errors, src)


def _in_vendor_terms(
    exc: InputError, header_of: dict[str, str], mapping: ShipmentMap, raw: dict
) -> InputError:
    """A manifest-field error said of the vendor's column (or of the map's default or the meter type)."""
    fld = exc.field
    if fld.startswith("column "):
        return exc
    allowed = exc.allowed
    if fld == "meter_type" and mapping.meter_types:
        allowed = f"a catalog number of the map's [meter_types] ({', '.join(mapping.meter_types)}) or a meter type id"
    if fld in header_of:
        name = f"column {header_of[fld]!r}"
    elif fld in mapping.defaults:
        name = f"[defaults] {fld} of {mapping.source}"
    elif raw.get("meter_type") and fld != "meter_type":
        name = f"{fld} (from meter type {raw['meter_type']!r})"
    else:
        name = fld
    return InputError(name, exc.problem, allowed=allowed, source=exc.source, found=exc.found)


def manifests(rows: list[dict], positions: int, *, types=None) -> list[str]:
    """The rows as manifest CSV texts: one form a board (a board is wired for one form), ``positions``
    meters a board, positions 1.. in the file's order."""
    if not 1 <= positions <= 48:
        raise InputError(
            "--positions", "is out of range", allowed="1..48 (the board's positions)", found=positions
        )
    present = {k for r in rows for k in r}
    fields = [
        "position",
        *(k for k in MANIFEST_FIELDS if k != "position" and k in present),
        *sorted(k for k in present if k.startswith(RECORD_PREFIX)),
    ]
    by_form: dict[str, list[dict]] = {}
    for r in rows:
        by_form.setdefault(make_meter({**r, "position": 1}, types=types).form, []).append(r)
    out = []
    for group in by_form.values():
        for start in range(0, len(group), positions):
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
            w.writeheader()
            for pos, r in enumerate(group[start : start + positions], start=1):
                w.writerow({**r, "position": pos})
            out.append(buf.getvalue())
    return out


def write_manifests(texts: list[str], out: str | Path) -> list[Path]:
    """Write each board's manifest whole (``out``, or ``<stem>-board01.csv`` ... for several boards); an
    existing file is never overwritten."""
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError("--out", "the folder does not exist", found=str(out))
    paths = (
        [out]
        if len(texts) == 1
        else [
            out.with_name(f"{out.stem}-board{i:02d}{out.suffix or '.csv'}") for i in range(1, len(texts) + 1)
        ]
    )
    taken = [str(p) for p in paths if p.exists()]
    if taken:
        raise InputError("--out", "would overwrite an existing file", found=taken, allowed="a new file name")
    for path, text in zip(paths, texts, strict=True):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return paths
