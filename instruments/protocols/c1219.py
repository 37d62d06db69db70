"""ANSI C12.19 tables a meter shop reads through the optical port: their numbers and layouts, as pure
decoding functions (no I/O), shared by the C12.18 driver; the simulated meter encodes them itself.

Sources and marks. [C]: termineter (BSD-3-Clause, github.com/rsmusllp/termineter @ a802f94),
``lib/c1219/constants.py`` (table numbers) and ``lib/c1219/access/general.py`` (how ST0, ST1, ST3 and ST5
are laid out and decoded against real meters). [U]: the layouts of the register, data-selection, unit of
measure, clock and procedure tables (ST12, ST21, ST22, ST23, ST52, ST7/ST8) follow the standard's
published structure (ANSI C12.19-2008 is paywalled) and were not confirmed in a public implementation;
this module supports the common choices a meter makes in ST0 (little-endian data order, time format 2:
one byte per field, NI formats FLOAT64/FLOAT32/INT32) and refuses others with a message naming the table
and the field, rather than guessing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime

# table numbers [C: termineter lib/c1219/constants.py]
GEN_CONFIG, GENERAL_MFG_ID, ED_MODE_STATUS, DEVICE_IDENT = 0, 1, 3, 5
PROC_INITIATE, PROC_RESPONSE = 7, 8
UOM_ENTRY = 12  # [U]
DEMAND_CONTROL = 13  # [C number: termineter constants.py C1219_TABLES; layout U]
ACT_REGS, DATA_SELECTION, CURRENT_REG_DATA, PREVIOUS_DEMAND_RESET_DATA = 21, 22, 23, 25
ACT_TIME_TOU, CLOCK, CALENDAR, CLOCK_STATE = 51, 52, 54, 55  # [C numbers; layouts U]
ACT_LOG, EVENTS_ID, HISTORY_LOG_CTRL, HISTORY_LOG_DATA, EVENT_LOG_CTRL, EVENT_LOG_DATA = (
    71,
    72,
    73,
    74,
    75,
    76,
)
TABLE_NAMES = {
    0: "ST0 general configuration",
    1: "ST1 manufacturer identification",
    3: "ST3 mode and status",
    5: "ST5 device identification",
    7: "ST7 procedure initiate",
    8: "ST8 procedure response",
    12: "ST12 units of measure",
    21: "ST21 actual registers",
    22: "ST22 data selection",
    23: "ST23 current register data",
    25: "ST25 previous demand reset data",
    13: "ST13 demand control",
    51: "ST51 actual time and TOU",
    52: "ST52 clock",
    54: "ST54 calendar",
    55: "ST55 clock state",
    71: "ST71 actual log",
    72: "ST72 events identification",
    73: "ST73 history log control",
    74: "ST74 history log data",
    75: "ST75 event log control",
    76: "ST76 event log data",
}

# ST3 ED_STD_STATUS1 bits [U: the standard's order; termineter reads the two bytes but names no bits]
STATUS_BITS = (
    "unprogrammed",
    "configuration error",
    "self-check error",
    "RAM failure",
    "ROM failure",
    "non-volatile memory failure",
    "clock error",
    "measurement error",
    "low battery",
    "low loss potential",
    "demand overload",
    "power failure",
    "tamper detect",
    "reverse rotation",
)
# procedures [U]
PROC_REMOTE_RESET, PROC_SET_DATE_TIME = 9, 10
PROC_RESULTS = {
    0: "completed",
    1: "not completed",
    2: "invalid parameter",
    3: "conflict with current setup",
    4: "timing constraint",
    5: "no authorization",
    6: "unrecognized procedure",
}
# ST12 UOM ID codes and multipliers [U]
UOM_ID = {0: "W", 1: "var", 2: "VA"}
UOM_MULTIPLIER = {0: 1.0, 1: 1e2, 2: 1e3, 3: 1e6, 4: 1e9, 5: 1e-2, 6: 1e-3, 7: 1e-6}


class TableFormatError(ValueError):
    """A table that is too short, or uses a format this module does not decode."""

    def __init__(self, table: int, problem: str) -> None:
        self.table = table
        super().__init__(f"{TABLE_NAMES.get(table, f'table {table}')}: {problem}")


@dataclass(frozen=True)
class GeneralConfig:
    """ST0, as far as decoding the other tables needs it [C: termineter general.py]."""

    little_endian: bool
    char_format: int  # 1 ISO 646, 2 Latin-1, 3 UTF-8
    time_format: int
    id_form: int  # 0: ST5 is 20 characters
    ni_format1: int
    ni_format2: int
    nameplate: str
    std_version: int
    std_revision: int

    @property
    def encoding(self) -> str:
        return {1: "ascii", 2: "latin-1", 3: "utf-8"}.get(self.char_format, "latin-1")


def decode_st0(data: bytes) -> GeneralConfig:
    if len(data) < 19:
        raise TableFormatError(GEN_CONFIG, f"{len(data)} bytes, at least 19 expected")
    return GeneralConfig(
        little_endian=not data[0] & 1,
        char_format=(data[0] & 0x0E) >> 1,
        time_format=data[1] & 0x07,
        id_form=1 if data[1] & 0x20 else 0,
        ni_format1=data[2] & 0x0F,
        ni_format2=(data[2] & 0xF0) >> 4,
        nameplate={0: "gas", 1: "water", 2: "electric"}.get(data[7], f"type {data[7]}"),
        std_version=data[11],
        std_revision=data[12],
    )


def _text(raw: bytes, enc: str) -> str:
    return raw.rstrip(b" \x00").decode(enc, "replace")


def decode_st1(data: bytes, cfg: GeneralConfig) -> dict[str, str]:
    """Manufacturer, model, hardware/firmware version and serial [C: termineter general.py]."""
    if len(data) < 24:
        raise TableFormatError(GENERAL_MFG_ID, f"{len(data)} bytes, at least 24 expected")
    serial = data[16:32] if cfg.id_form == 0 else data[16:24]
    return {
        "manufacturer": _text(data[0:4], cfg.encoding),
        "model": _text(data[4:12], cfg.encoding),
        "hardware": f"{data[12]}.{data[13]}",
        "firmware": f"{data[14]}.{data[15]}",
        "serial": _text(serial, cfg.encoding) if cfg.id_form == 0 else serial.hex(),
    }


def decode_st3(data: bytes, cfg: GeneralConfig) -> list[str]:
    """The status flags that are set, in words (ST3 ED_MODE, ED_STD_STATUS1)."""
    if len(data) < 3:
        raise TableFormatError(ED_MODE_STATUS, f"{len(data)} bytes, at least 3 expected")
    (status,) = struct.unpack(("<" if cfg.little_endian else ">") + "H", data[1:3])
    flags = [name for bit, name in enumerate(STATUS_BITS) if status >> bit & 1]
    mode = data[0]
    if mode & 0x02:
        flags.append("test mode")
    if mode & 0x04:
        flags.append("meter shop mode")
    return flags


def decode_st5(data: bytes, cfg: GeneralConfig) -> str:
    want = 20 if cfg.id_form == 0 else 10
    if len(data) != want:
        raise TableFormatError(DEVICE_IDENT, f"{len(data)} bytes, {want} expected")
    return _text(data, cfg.encoding) if cfg.id_form == 0 else data.hex()


_NI = {0: ("d", 8), 1: ("f", 4), 10: ("i", 4)}  # FLOAT64, FLOAT32, INT32 [U numbering]


def ni_size(fmt: int, table: int) -> int:
    if fmt not in _NI:
        raise TableFormatError(table, f"NI format {fmt} is not decoded here (FLOAT64, FLOAT32, INT32 are)")
    return _NI[fmt][1]


def ni_value(raw: bytes, fmt: int, cfg: GeneralConfig, table: int) -> float:
    code, size = _NI.get(fmt, (None, 0))
    if code is None or len(raw) != size:
        raise TableFormatError(table, f"NI format {fmt}: cannot decode {raw.hex()}")
    return float(struct.unpack(("<" if cfg.little_endian else ">") + code, raw)[0])


@dataclass(frozen=True)
class RegisterLayout:
    """ST21: what ST23 holds [U]."""

    flags1: int
    summations: int
    demands: int
    coincidents: int
    occurrences: int
    tiers: int

    @property
    def reset_counter(self) -> bool:
        return bool(self.flags1 & 0x04)

    @property
    def event_time(self) -> bool:
        return bool(self.flags1 & 0x02)

    @property
    def cumulative(self) -> bool:
        return bool(self.flags1 & 0x10)

    @property
    def continuous_cumulative(self) -> bool:
        return bool(self.flags1 & 0x20)


def decode_st21(data: bytes) -> RegisterLayout:
    if len(data) < 10:
        raise TableFormatError(ACT_REGS, f"{len(data)} bytes, at least 10 expected")
    return RegisterLayout(data[0], data[3], data[4], data[5], data[6], data[7])


@dataclass(frozen=True)
class Uom:
    quantity: str  # "W", "var", "VA" or "code n"
    multiplier: float
    quadrants: frozenset[int]

    @property
    def delivered(self) -> bool:
        """Energy delivered to the customer: active quadrants I and IV [U]."""
        return self.quadrants == frozenset({1, 4})

    @property
    def received(self) -> bool:
        return self.quadrants == frozenset({2, 3})


def decode_st12(data: bytes, cfg: GeneralConfig) -> list[Uom]:
    if len(data) % 4:
        raise TableFormatError(UOM_ENTRY, f"{len(data)} bytes, not a whole number of 4-byte entries")
    out = []
    order = "<" if cfg.little_endian else ">"
    for k in range(0, len(data), 4):
        (word,) = struct.unpack(order + "I", data[k : k + 4])
        code = word & 0xFF
        quads = frozenset(q for q, bit in ((1, 14), (2, 15), (3, 16), (4, 17)) if word >> bit & 1)
        out.append(Uom(UOM_ID.get(code, f"code {code}"), UOM_MULTIPLIER[(word >> 11) & 7], quads))
    return out


@dataclass
class RegisterData:
    """ST23 decoded: summations (energy) and demands, totals and per tier [U]."""

    demand_resets: int | None
    summations: list[float]
    demands: list[list[float]]  # per demand: its NBR_OCCUR values
    tiers: list[tuple[list[float], list[list[float]]]] = field(default_factory=list)


def _time_size(cfg: GeneralConfig, table: int) -> int:
    if cfg.time_format != 2:
        raise TableFormatError(table, f"time format {cfg.time_format} is not decoded here (format 2 is)")
    return 5


def decode_st23(data: bytes, cfg: GeneralConfig, layout: RegisterLayout) -> RegisterData:
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise TableFormatError(CURRENT_REG_DATA, f"{len(data)} bytes, more expected (layout from ST21)")
        raw = data[pos : pos + n]
        pos += n
        return raw

    s1, s2 = ni_size(cfg.ni_format1, CURRENT_REG_DATA), ni_size(cfg.ni_format2, CURRENT_REG_DATA)

    def block() -> tuple[list[float], list[list[float]]]:
        sums = [ni_value(take(s1), cfg.ni_format1, cfg, CURRENT_REG_DATA) for _ in range(layout.summations)]
        demands = []
        for _ in range(layout.demands):
            if layout.event_time:
                take(_time_size(cfg, CURRENT_REG_DATA) * layout.occurrences)
            if layout.cumulative:
                take(s1)
            if layout.continuous_cumulative:
                take(s1)
            demands.append(
                [ni_value(take(s2), cfg.ni_format2, cfg, CURRENT_REG_DATA) for _ in range(layout.occurrences)]
            )
        take(s2 * layout.occurrences * layout.coincidents)
        return sums, demands

    resets = take(1)[0] if layout.reset_counter else None
    sums, demands = block()
    tiers = [block() for _ in range(layout.tiers)]
    return RegisterData(resets, sums, demands, tiers)


def decode_st52(data: bytes, cfg: GeneralConfig) -> datetime:
    """The meter's clock (time format 2: year since 2000, month, day, hour, minute, second) [U]."""
    if cfg.time_format != 2:
        raise TableFormatError(CLOCK, f"time format {cfg.time_format} is not decoded here (format 2 is)")
    if len(data) < 6:
        raise TableFormatError(CLOCK, f"{len(data)} bytes, at least 6 expected")
    y, mo, d, h, mi, s = data[:6]
    try:
        return datetime(2000 + y, mo, d, h, mi, s)
    except ValueError as exc:
        raise TableFormatError(CLOCK, f"not a date and time ({data[:6].hex()}): {exc}") from None


def encode_st52(when: datetime) -> bytes:
    return bytes([when.year - 2000, when.month, when.day, when.hour, when.minute, when.second])


def procedure_request(
    number: int, sequence: int, params: bytes = b"", *, little_endian: bool = True
) -> bytes:
    """ST7: TBL_PROC_NBR (11-bit number, bit 11 = manufacturer, selector 0 in bits 12-15), sequence,
    parameters [U]."""
    return struct.pack("<H" if little_endian else ">H", number & 0x7FF) + bytes([sequence & 0xFF]) + params


def decode_st8(data: bytes, cfg: GeneralConfig) -> tuple[int, int, int, bytes]:
    """(procedure number, sequence, result code, response data) [U]."""
    if len(data) < 4:
        raise TableFormatError(PROC_RESPONSE, f"{len(data)} bytes, at least 4 expected")
    (proc,) = struct.unpack(("<" if cfg.little_endian else ">") + "H", data[:2])
    return proc & 0x7FF, data[2], data[3], data[4:]


# ---- demand control, previous demand reset, time and TOU, logs (issue 15) -----------------------------
# [U] throughout unless marked: the layouts below follow the standard's published structure (ANSI
# C12.19-2008 is paywalled) and were not confirmed in a public implementation, except ST71 and ST74, whose
# layouts are [C] from termineter ``lib/c1219/access/log.py`` and ``lib/c1219/data.py``
# (``get_history_entry_record``), which reads them from real meters.

#: C12.19 standard history/event codes (ST72/ST74 "history code"), in words [U: the standard's list as
#: published in meter manuals; not confirmed in a public implementation]
HISTORY_CODES = {
    0: "no event",
    1: "primary power down",
    2: "primary power up",
    3: "time changed (old time)",
    4: "time changed (new time)",
    7: "end device accessed for read",
    8: "end device accessed for write",
    9: "procedure invoked",
    10: "table written to",
    11: "end device programmed",
    20: "demand reset occurred",
    21: "self read occurred",
    27: "tier switch change",
    32: "test mode started",
    33: "test mode stopped",
    37: "configuration error detected",
    38: "self check error detected",
    42: "clock error detected",
    43: "measurement error detected",
    44: "low battery detected",
    46: "demand overload detected",
    47: "tamper attempt detected",
    48: "reverse rotation detected",
}
HISTORY_CODE_BY_NAME = {v: k for k, v in HISTORY_CODES.items()}


@dataclass(frozen=True)
class DemandControl:
    """ST13, one entry per demand (ST21's NBR_DEMAND_CTRL_ENTRIES): the subinterval in minutes and how many
    subintervals make the demand interval; 1 = block demand, more = sliding (rolling) demand [U]."""

    sub_interval_min: int
    multiplier: int

    @property
    def interval_s(self) -> float:
        return 60.0 * self.sub_interval_min * self.multiplier

    @property
    def kind(self) -> str:
        return "block" if self.multiplier <= 1 else f"sliding ({self.multiplier} subintervals)"


def decode_st13(data: bytes, entries: int = 1) -> list[DemandControl]:
    """RESET_EXCLUSION, P_FAIL_RECOGNTN_TM, P_FAIL_EXCLUSION, COLD_LOAD_PICKUP (one byte each), then per
    entry SUB_INT (minutes) and INT_MULTIPLIER (one byte each) [U]."""
    want = 4 + 2 * entries
    if len(data) < want:
        raise TableFormatError(DEMAND_CONTROL, f"{len(data)} bytes, at least {want} expected")
    out = []
    for k in range(entries):
        sub, mult = data[4 + 2 * k], data[5 + 2 * k]
        if sub == 0:
            raise TableFormatError(DEMAND_CONTROL, f"entry {k}: a subinterval of 0 minutes")
        out.append(DemandControl(sub, max(mult, 1)))
    return out


def encode_st13(sub_interval_min: int, multiplier: int) -> bytes:
    return bytes([0, 0, 0, 0, sub_interval_min & 0xFF, multiplier & 0xFF])


def _ltime(raw: bytes, table: int) -> datetime | None:
    """LTIME_DATE in time format 2: YY MM DD hh mm ss; all zero = no time recorded."""
    if not any(raw):
        return None
    y, mo, d, h, mi, s = raw[:6]
    try:
        return datetime(2000 + y, mo, d, h, mi, s)
    except ValueError as exc:
        raise TableFormatError(table, f"not a date and time ({raw.hex()}): {exc}") from None


def decode_st25(
    data: bytes, cfg: GeneralConfig, layout: RegisterLayout
) -> tuple[datetime | None, RegisterData]:
    """ST25: END_DATE_TIME (LTIME_DATE, when ST21's date-time flag is set), then the registers as they
    were at the last demand reset, laid out as ST23 [U]."""
    when = None
    if layout.event_time:
        _time_size(cfg, PREVIOUS_DEMAND_RESET_DATA)
        if len(data) < 6:
            raise TableFormatError(PREVIOUS_DEMAND_RESET_DATA, f"{len(data)} bytes, at least 6 expected")
        when, data = _ltime(data[:6], PREVIOUS_DEMAND_RESET_DATA), data[6:]
    try:
        regs = decode_st23(data, cfg, layout)
    except TableFormatError as err:
        raise TableFormatError(PREVIOUS_DEMAND_RESET_DATA, str(err).partition(": ")[2]) from None
    return when, regs


@dataclass(frozen=True)
class ClockState:
    """ST55: the meter's time with its qualifiers and the tiers in force [U]."""

    when: datetime
    day_of_week: int  # 0 = Sunday
    dst: bool
    summation_tier: int  # 0 = tier 1 (register tier index)
    demand_tier: int


def decode_st55(data: bytes, cfg: GeneralConfig) -> ClockState:
    """CLOCK_CALENDAR (LTIME_DATE), TIME_DATE_QUAL (day of week bits 0-2, DST bit 3), STATUS (2 bytes:
    current summation tier bits 0-2, current demand tier bits 3-5) [U]."""
    if len(data) < 9:
        raise TableFormatError(CLOCK_STATE, f"{len(data)} bytes, at least 9 expected")
    when = decode_st52(data[:7], cfg)
    (status,) = struct.unpack(("<" if cfg.little_endian else ">") + "H", data[7:9])
    return ClockState(when, data[6] & 7, bool(data[6] & 8), status & 7, (status >> 3) & 7)


def encode_st55(when: datetime, summation_tier: int, demand_tier: int) -> bytes:
    qual = (when.isoweekday() % 7) & 7
    return (
        encode_st52(when) + bytes([qual]) + struct.pack("<H", (summation_tier & 7) | (demand_tier & 7) << 3)
    )


@dataclass(frozen=True)
class TierSwitch:
    """One daily tier switch of the TOU calendar: from hh:mm the meter registers into ``tier`` (0 = the
    first tier register) [U]."""

    hour: int
    minute: int
    tier: int
    day_schedule: int = 0

    @property
    def minute_of_day(self) -> int:
        return 60 * self.hour + self.minute


def decode_st51(data: bytes) -> dict[str, int]:
    """TIME_FUNC_FLAG1, TIME_FUNC_FLAG2, CALENDAR_FUNC, NBR_NON_RECURR_DATES, NBR_RECURR_DATES (one byte
    each), NBR_TIER_SWITCHES, CALENDAR_TBL_SIZE (two bytes each, little-endian here) [U]."""
    if len(data) < 9:
        raise TableFormatError(ACT_TIME_TOU, f"{len(data)} bytes, at least 9 expected")
    switches, size = struct.unpack("<HH", data[5:9])
    return {"non_recurring_dates": data[3], "recurring_dates": data[4], "tier_switches": switches,
            "calendar_size": size}  # fmt: skip


def decode_st54(data: bytes, act: dict[str, int]) -> list[TierSwitch]:
    """The tier switches of ST54 (TIER_SWITCH_BFLD: new tier bits 0-2, switch minute bits 5-10, switch
    hour bits 11-15; then DAY_SCH_NUM), for a calendar without dated entries [U]."""
    if act["non_recurring_dates"] or act["recurring_dates"]:
        raise TableFormatError(CALENDAR, "dated calendar entries (holidays, seasons) are not decoded here")
    n = act["tier_switches"]
    if len(data) < 3 * n:
        raise TableFormatError(CALENDAR, f"{len(data)} bytes, {3 * n} expected for {n} tier switches")
    out = []
    for k in range(n):
        (bfld,) = struct.unpack("<H", data[3 * k : 3 * k + 2])
        hour, minute = bfld >> 11, (bfld >> 5) & 0x3F
        if hour > 23 or minute > 59:
            raise TableFormatError(CALENDAR, f"tier switch {k}: {hour}:{minute:02d} is not a time of day")
        out.append(TierSwitch(hour, minute, bfld & 7, data[3 * k + 2]))
    return out


def encode_st54(switches: list[TierSwitch]) -> bytes:
    return b"".join(
        struct.pack("<H", (s.tier & 7) | (s.minute & 0x3F) << 5 | (s.hour & 0x1F) << 11)
        + bytes([s.day_schedule])
        for s in switches
    )


@dataclass(frozen=True)
class LogLayout:
    """ST71 [C: termineter log.py]."""

    event_number: bool
    date_time: bool
    sequence_number: bool
    history_data_length: int
    history_entries: int


def decode_st71(data: bytes) -> LogLayout:
    if len(data) < 9:
        raise TableFormatError(ACT_LOG, f"{len(data)} bytes, at least 9 expected")
    flags = data[0]
    (entries,) = struct.unpack("<H", data[5:7])
    return LogLayout(bool(flags & 1), bool(flags & 2), bool(flags & 4), data[3], entries)


@dataclass(frozen=True)
class HistoryEntry:
    when: datetime | None
    sequence: int | None
    user_id: int
    code: int
    manufacturer: bool
    argument: bytes

    @property
    def words(self) -> str:
        if self.manufacturer:
            return f"manufacturer event {self.code}"
        return HISTORY_CODES.get(self.code, f"standard event {self.code}")


def decode_st74(data: bytes, cfg: GeneralConfig, layout: LogLayout) -> list[HistoryEntry]:
    """Flags, NBR_VALID_ENTRIES, LAST_ENTRY_ELEMENT (2 each), LAST_ENTRY_SEQ_NUM (4), NBR_UNREAD_ENTRIES (2),
    then ST71's number of entries: [time][event number][sequence number], user id (2), the history code as
    TABLE_IDB_BFLD (2), its argument (ST71's length) [C: termineter log.py, data.py]. Only the valid
    entries are returned, oldest first."""
    if len(data) < 11:
        raise TableFormatError(HISTORY_LOG_DATA, f"{len(data)} bytes, at least 11 expected")
    order = "<" if cfg.little_endian else ">"
    valid, last, _seq, _unread = struct.unpack(order + "HHIH", data[1:11])
    size = layout.history_data_length + 4
    size += 6 if layout.date_time else 0
    size += 2 if layout.event_number else 0
    size += 2 if layout.sequence_number else 0
    body = data[11:]
    if len(body) != size * layout.history_entries:
        raise TableFormatError(HISTORY_LOG_DATA, f"{len(body)} bytes of entries, "
                               f"{size * layout.history_entries} expected from ST71")  # fmt: skip
    if valid > layout.history_entries:
        raise TableFormatError(
            HISTORY_LOG_DATA, f"{valid} valid entries in a log of {layout.history_entries}"
        )
    out = []
    for k in range(valid):
        # a circular list: the oldest valid entry follows the last one written
        idx = (last - valid + 1 + k) % max(layout.history_entries, 1)
        raw = body[idx * size : (idx + 1) * size]
        when = seq = None
        if layout.date_time:
            when, raw = _ltime(raw[:6], HISTORY_LOG_DATA), raw[6:]
        if layout.event_number:
            raw = raw[2:]
        if layout.sequence_number:
            (seq,) = struct.unpack(order + "H", raw[:2])
            raw = raw[2:]
        user, bfld = struct.unpack(order + "HH", raw[:4])
        out.append(HistoryEntry(when, seq, user, bfld & 0x7FF, bool(bfld & 0x800), raw[4:]))
    return out
