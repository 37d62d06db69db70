"""The catalog of meter classes and limit tables, loaded from data with provenance on every entry.

Classes live in ``procedures/data/classes.toml`` and limits in ``procedures/data/limits/*.toml``. No
standard's number is written in this module: every figure comes from a data file that says where it came
from and whether it is confirmed, so a shop can edit it and a certificate can cite it.

Sign convention of every ``percent`` limit: symmetric +- on the percent error, where
%R = 100 x meter energy / reference energy and error = %R - 100 (positive = the meter runs fast).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from procedures.errors import InputError

STATUSES = ("confirmed", "derived", "unconfirmed")
UNITS = (
    "percent",
    "A",
    "fraction-of-Ib",
    "fraction-of-In",
    "fraction-of-TA",
    "pulses",
    "deg",
    "constant",
    "kWh",
    "kW",  # a demand register's digit (meter-port tests)
    "s/day",  # a clock's rate (meter-port tests)
)
ENERGIES = ("active", "reactive")
ANY = "*"


@dataclass(frozen=True)
class Provenance:
    """Where a figure comes from: the standard, its edition and clause (blank where unknown) and status."""

    standard: str
    edition: str
    clause: str
    status: str
    note: str = ""

    def cite(self) -> str:
        """A one-line citation for tables and certificates."""
        parts = [self.standard]
        if self.edition:
            parts.append(f"({self.edition})")
        if self.clause:
            parts.append(f"cl. {self.clause}")
        return " ".join(parts) + f" [{self.status}]"

    def certificate_text(self) -> str:
        """How a certificate states where this figure comes from (see :func:`citation`)."""
        return citation(self.standard, self.edition, self.clause, self.status, self.note)


#: What a status letter or word means for a citation (records written by tests use the letters).
_STATUS_WORDS = {"c": "confirmed", "d": "derived", "u": "unconfirmed"}
# A reference to a working file of the project ("standards.md §2.3", "(see notes.md)"): a reader of a
# certificate does not have it, so it is never printed.
_INTERNAL_FILE = re.compile(
    r"(?:see\s+)?[\w./-]+\.(?:md|txt|rst)\b(?:\s*§\s*[\d.]+(?:\s*[-–/]\s*§?\s*[\d.]+)?)?"
)


def public_note(note: str) -> str:
    """A provenance note without references to the project's working files, tidied."""
    text = _INTERNAL_FILE.sub("", note or "")
    text = re.sub(r"([(\[])\s*[,;]\s*", r"\1", text)
    text = re.sub(r"[(\[]\s*[)\]]", "", text)
    text = re.sub(r"\s+([,;.])", r"\1", text)
    text = re.sub(r"^[\s,;:]+|[\s,;:]+$", "", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def citation(standard: str, edition: str = "", clause: str = "", status: str = "unconfirmed",
             note: str = "") -> str:  # fmt: skip
    """Where a limit comes from, as a certificate says it to a reader who has the standard but not our files.

    A confirmed (or derived) figure cites the standard, its edition and its clause ("clause not identified"
    where the source quoting it gave none; a source that is not a standard, such as an instrument maker's
    criterion, by its name); an unconfirmed one says it is shop practice, not confirmed against the
    standard; a shop setting says so. The note follows, without references to internal working files.
    """
    status = _STATUS_WORDS.get(str(status).strip().lower(), str(status).strip().lower())
    name = " ".join(p for p in (standard.strip(), f"({edition.strip()})" if edition.strip() else "") if p)
    designation = bool(re.search(r"\d", standard))  # "ANSI C12.20", not "instrument maker's criterion"
    if standard.strip().lower().startswith("shop"):
        text = "shop practice, not a figure from a standard"
    elif status in ("confirmed", "derived"):
        text = name
        if designation:
            text += f", clause {clause.strip()}" if clause.strip() else ", clause not identified"
        if status == "derived":
            text = f"derived from {text}"
    else:
        text = f"shop practice, not confirmed against {name or 'the standard'}"
    note = public_note(note)
    return f"{text}; {note}" if note else text


@dataclass(frozen=True)
class CurrentClass:
    """An ANSI current class: test amperes (TA) and the class current (its maximum)."""

    name: str
    ta_a: float
    max_a: float
    connection: str
    provenance: Provenance


@dataclass(frozen=True)
class AccuracyClass:
    """An accuracy class. ``id`` is "<family>:<name>" (family: ansi, iec, iec23, iec24, mid)."""

    family: str
    name: str
    energy: str
    index_percent: float | None
    provenance: Provenance

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}"


@dataclass(frozen=True)
class Limit:
    """One limit value for one class, with the table it came from and its provenance.

    ``accuracy_class`` is the bare class name the value is for ("*" = any class); ``current_class`` is
    set instead where the value depends on the ANSI current class (starting loads).
    """

    table: str
    table_version: str
    entry: str
    description: str
    unit: str
    value: float
    accuracy_class: str | None
    current_class: str | None
    provenance: Provenance

    @property
    def ref(self) -> str:
        return f"{self.table}:{self.entry}"


@dataclass(frozen=True)
class AverageRule:
    """A jurisdiction's weighted-average rule: average = sum(w * %R) / sum(w) over point labels."""

    name: str
    title: str
    weights: tuple[tuple[str, float], ...]
    provenance: Provenance

    def average(self, registration_by_label: dict[str, float]) -> float:
        """The weighted average registration (%R) from each weighted point's %R."""
        missing = [lab for lab, _ in self.weights if lab not in registration_by_label]
        if missing:
            raise InputError(
                f"average_rule.{self.name}", "needs a result for every weighted point", allowed=missing
            )
        total = sum(w for _, w in self.weights)
        return sum(w * registration_by_label[lab] for lab, w in self.weights) / total


@dataclass(frozen=True)
class LimitEntry:
    name: str
    description: str
    unit: str
    values: tuple[Limit, ...]


@dataclass(frozen=True)
class LimitTable:
    """One versioned limit file."""

    id: str
    title: str
    version: str
    family: str
    source: str
    entries: dict[str, LimitEntry]
    average_rules: dict[str, AverageRule]


# ---- parsing helpers ------------------------------------------------------------------------------------


def read_toml(path: str | Path | None, package: str, name: str, what: str) -> tuple[dict, str, bytes]:
    """Read a TOML file (a shipped one when ``path`` is None): (data, source name, raw bytes)."""
    if path is None:
        data = resources.files(package).joinpath(name).read_bytes()
        src = f"{package.replace('.', '/')}/{name}"
    else:
        src = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(what, f"cannot be read: {exc.strerror}", source=src) from exc
    return parse_toml_bytes(data, src, what), src, data


def parse_toml_bytes(data: bytes, src: str, what: str) -> dict:
    """TOML bytes as a dict; non-UTF-8 text, bad syntax, nesting too deep for the parser and integers too
    long to read are one :class:`InputError` naming the file, never a traceback."""
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(
            what, f"is not UTF-8 text (byte {exc.start} cannot be decoded)", source=src
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(what, f"is not valid TOML: {exc}", source=src) from None
    except RecursionError:
        raise InputError(what, "is nested too deeply to be a plan, bench or limit file", source=src) from None
    except ValueError as exc:  # an integer of thousands of digits (int max str digits)
        raise InputError(what, f"holds a number too long to read ({str(exc)[:60]})", source=src) from None


class Fields:
    """Typed access to one TOML table, raising InputError naming file, entry and field."""

    def __init__(self, raw: object, where: str, src: str) -> None:
        if not isinstance(raw, dict):
            raise InputError(where, "must be a table", source=src, found=raw)
        self.raw, self.where, self.src = raw, where, src

    def error(self, key: str, problem: str, **kw) -> InputError:
        return InputError(f"{self.where}.{key}", problem, source=self.src, **kw)

    def get(self, key: str, kind: type | tuple[type, ...], default: object = ..., what: str = "") -> object:
        if key not in self.raw:
            if default is ...:
                raise self.error(key, "is missing")
            return default
        val = self.raw[key]
        ok = isinstance(val, kind) and not (isinstance(val, bool) and kind in (int, float, (int, float)))
        if not ok:
            raise self.error(key, f"must be {what or _kind_name(kind)}", found=val)
        return val

    def text(self, key: str, default: object = ...) -> str:
        return self.get(key, str, default)  # type: ignore[return-value]

    def number(
        self, key: str, default: object = ..., *, positive: bool = False, nonneg: bool = False
    ) -> float:
        val = self.get(key, (int, float), default, "a number")
        if val is None:
            return val  # type: ignore[return-value]
        try:
            val = float(val)  # type: ignore[arg-type]
        except OverflowError:
            raise self.error(key, "is far too large", found=str(val)[:40]) from None
        if not math.isfinite(val) or (positive and val <= 0) or (nonneg and val < 0):
            rule = "a positive number" if positive else "a number >= 0" if nonneg else "a finite number"
            raise self.error(key, f"must be {rule}", found=val)
        return val

    def choice(self, key: str, allowed: tuple[str, ...], default: object = ...) -> str:
        val = self.text(key, default)
        if val not in allowed:
            raise self.error(key, "unknown value", allowed=allowed, found=val)
        return val


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {
        str: "text",
        int: "a whole number",
        float: "a number",
        list: "a list",
        dict: "a table",
        bool: "true/false",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_provenance(f: Fields, base: Provenance | None = None) -> Provenance:
    """A provenance from keys of ``f`` (standard, edition, clause, status, note), defaulting to ``base``."""
    d = base or Provenance("", "", "", "")
    prov = Provenance(
        standard=f.text("standard", d.standard if base else ...),
        edition=f.text("edition", d.edition),
        clause=f.text("clause", d.clause),
        status=f.choice("status", STATUSES, d.status if base else ...),
        note=f.text("note", d.note),
    )
    if not prov.standard.strip():
        raise f.error("standard", "must name the standard or source")
    return prov


# ---- classes --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassCatalog:
    version: str
    source: str
    current: dict[str, CurrentClass]
    accuracy: dict[str, AccuracyClass]


def load_classes(path: str | Path | None = None) -> ClassCatalog:
    """Load and validate a classes file (the shipped ``classes.toml`` when ``path`` is None)."""
    raw, src, _ = read_toml(path, "procedures.data", "classes.toml", "classes file")
    top = Fields(raw, "classes", src)
    version = top.text("version")
    current: dict[str, CurrentClass] = {}
    for name, body in top.get("current", dict).items():  # type: ignore[union-attr]
        f = Fields(body, f"current.{name}", src)
        ta, mx = f.number("ta_a", positive=True), f.number("max_a", positive=True)
        if ta > mx:
            raise f.error("ta_a", f"test amperes exceed the class current {mx:g} A", found=ta)
        prov = parse_provenance(Fields(f.get("provenance", dict), f"current.{name}.provenance", src))
        current[name] = CurrentClass(name, ta, mx, f.text("connection"), prov)
    accuracy: dict[str, AccuracyClass] = {}
    for cid, body in top.get("accuracy", dict).items():  # type: ignore[union-attr]
        f = Fields(body, f"accuracy.{cid}", src)
        family, sep, name = cid.partition(":")
        if not sep or not family or not name:
            raise InputError(
                f"accuracy.{cid}", "class ids are '<family>:<name>'", source=src, allowed="e.g. ansi:0.2"
            )
        prov = parse_provenance(Fields(f.get("provenance", dict), f"accuracy.{cid}.provenance", src))
        index = f.number("index_percent", None, positive=True)
        accuracy[cid] = AccuracyClass(family, name, f.choice("energy", ENERGIES), index, prov)
    return ClassCatalog(version, src, current, accuracy)


@cache
def shipped_classes() -> ClassCatalog:
    return load_classes()


def current_class(name: str) -> CurrentClass:
    """An ANSI current class by name ("CL200", "cl200", "200"), or InputError listing the known ones."""
    classes = shipped_classes().current
    key = str(name).strip().upper()
    if key.isdigit():
        key = f"CL{key}"
    if key not in classes:
        raise InputError("current_class", "unknown current class", allowed=list(classes), found=name)
    return classes[key]


def ta_for(current_class_name: str) -> float:
    """The test amperes of a current class (CL200 -> 30.0)."""
    return current_class(current_class_name).ta_a


def check_ta(current_class_name: str, ta: float) -> float:
    """``ta`` if it is the TA of the class, else InputError saying which TA the class has."""
    cc = current_class(current_class_name)
    if not math.isclose(float(ta), cc.ta_a, rel_tol=1e-9):
        raise InputError(
            "ta", f"is not the test amperes of {cc.name}", allowed=f"{cc.ta_a:g} A for {cc.name}", found=ta
        )
    return cc.ta_a


def accuracy_class(name: str, family: str | None = None) -> AccuracyClass:
    """An accuracy class by id ("ansi:0.2") or by bare name within ``family`` or where unambiguous.

    Bare names are matched case-insensitively ("0.5s" finds 0.5S).
    """
    classes = shipped_classes().accuracy
    text = str(name).strip()
    if text in classes and (family is None or classes[text].family == family):
        return classes[text]
    fam, sep, bare = text.partition(":")
    if sep:
        family, text = fam, bare
    hits = [
        c
        for c in classes.values()
        if c.name.lower() == text.lower() and (family is None or c.family == family)
    ]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise InputError(
            "accuracy_class", "is ambiguous; name the family", allowed=[c.id for c in hits], found=name
        )
    pool = [c.id for c in classes.values() if family is None or c.family == family]
    raise InputError("accuracy_class", "unknown accuracy class", allowed=pool or list(classes), found=name)


# ---- limits ---------------------------------------------------------------------------------------------


def load_limit_table(path: str | Path | None = None, *, _name: str | None = None) -> LimitTable:
    """Load and validate one limit file (a shop's own when ``path`` is given)."""
    raw, src, _ = read_toml(path, "procedures.data.limits", _name or "", "limit file")
    top = Fields(raw, "limits-file", src)
    table_id, version = top.text("id"), top.text("version")
    family = top.text("family")
    entries: dict[str, LimitEntry] = {}
    limits = top.get("limits", dict, {})
    for entry, body in limits.items():  # type: ignore[union-attr]
        f = Fields(body, f"limits.{entry}", src)
        base = parse_provenance(f)
        unit = f.choice("unit", UNITS)
        description = f.text("description")
        values = []
        seen: set[tuple[str | None, str | None]] = set()
        vals = f.get("values", list)
        if not vals:
            raise f.error("values", "needs at least one value")
        for k, vraw in enumerate(vals):  # type: ignore[arg-type]
            vf = Fields(vraw, f"limits.{entry}.values[{k}]", src)
            acc, cur = vf.text("class", None), vf.text("current_class", None)
            if (acc is None) == (cur is None):
                raise vf.error("class", "give exactly one of class or current_class", found=vraw)
            if acc is not None and acc != ANY and family != ANY:
                try:
                    accuracy_class(acc, family)
                except InputError as exc:
                    raise vf.error("class", exc.problem, allowed=exc.allowed, found=acc) from None
            if cur is not None and cur not in shipped_classes().current:
                raise vf.error(
                    "current_class",
                    "unknown current class",
                    allowed=list(shipped_classes().current),
                    found=cur,
                )
            if (acc, cur) in seen:
                raise vf.error("class", "repeats a class already given in this entry", found=acc or cur)
            seen.add((acc, cur))
            nonneg = unit != "percent"
            value = vf.number("value", positive=unit == "percent", nonneg=nonneg)
            values.append(
                Limit(
                    table_id, version, entry, description, unit, value, acc, cur, parse_provenance(vf, base)
                )
            )
        entries[entry] = LimitEntry(entry, description, unit, tuple(values))
    rules: dict[str, AverageRule] = {}
    for rname, body in top.get("average_rules", dict, {}).items():  # type: ignore[union-attr]
        f = Fields(body, f"average_rules.{rname}", src)
        weights = f.get("weights", dict)
        for lab, w in weights.items():  # type: ignore[union-attr]
            if isinstance(w, bool) or not isinstance(w, int | float) or w <= 0:
                raise f.error(f"weights.{lab}", "must be a positive number", found=w)
        prov = parse_provenance(Fields(f.get("provenance", dict), f"average_rules.{rname}.provenance", src))
        rules[rname] = AverageRule(
            rname,
            f.text("title"),
            tuple((k, float(v)) for k, v in weights.items()),
            prov,  # type: ignore[union-attr]
        )
    if not entries and not rules:
        raise InputError("limits", "no [limits.<entry>] or [average_rules.<name>] tables", source=src)
    return LimitTable(table_id, top.text("title"), version, family, src, entries, rules)


@cache
def shipped_limit_tables() -> dict[str, LimitTable]:
    """Every limit table shipped in ``procedures/data/limits``, by id."""
    tables: dict[str, LimitTable] = {}
    folder = resources.files("procedures.data.limits")
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".toml"):
            continue
        table = load_limit_table(_name=item.name)
        if table.id in tables:
            raise InputError("id", "two limit files share this id", source=table.source, found=table.id)
        tables[table.id] = table
    return tables


def limit_table(table_id: str, extra: dict[str, LimitTable] | None = None) -> LimitTable:
    tables = {**shipped_limit_tables(), **(extra or {})}
    if table_id not in tables:
        raise InputError("limit table", "unknown limit table", allowed=sorted(tables), found=table_id)
    return tables[table_id]


def limit_for(
    table: str,
    entry: str,
    *,
    accuracy_class: str | None = None,
    current_class: str | None = None,
    extra_tables: dict[str, LimitTable] | None = None,
) -> Limit:
    """The limit of ``table``'s ``entry`` for a class.

    Values given for a current class win where ``current_class`` is given; then the accuracy class
    (bare name, "ansi:0.2" also accepted); then a "*" value that applies to any class.
    """
    t = limit_table(table, extra_tables)
    if entry not in t.entries:
        raise InputError(
            f"{table}.{entry}", "unknown limit entry", allowed=sorted(t.entries), source=t.source
        )
    values = t.entries[entry].values
    acc = accuracy_class.partition(":")[2] or accuracy_class if accuracy_class else None
    if current_class is not None:
        cc = str(current_class).strip().upper()
        for v in values:
            if v.current_class == cc:
                return v
    for v in values:
        if acc is not None and v.accuracy_class is not None and v.accuracy_class.lower() == acc.lower():
            return v
    for v in values:
        if v.accuracy_class == ANY:
            return v
    allowed = [v.accuracy_class or v.current_class for v in values]
    found = current_class if any(v.current_class for v in values) else accuracy_class
    raise InputError(
        f"{table}.{entry}",
        "has no value for this class (add one to the limit table, citing its source)",
        allowed=allowed,
        found=found,
        source=t.source,
    )


def average_rule(name: str, extra_tables: dict[str, LimitTable] | None = None) -> AverageRule:
    """A named weighted-average rule (method-1, method-2, method-3, nc-method-4, nd-polyphase, custom)."""
    rules = {
        r.name: r
        for t in {**shipped_limit_tables(), **(extra_tables or {})}.values()
        for r in t.average_rules.values()
    }
    if name not in rules:
        raise InputError("average_rule", "unknown average rule", allowed=list(rules), found=name)
    return rules[name]
