"""Reads as they arrive (a handheld's CSV or JSON file, an API call, a reader's page, a self-read), parsed
into columns with one error per refused row.

File format (docs/reading-files.md): UTF-8 (a byte-order mark is allowed), CSV with a header row or JSON
(a list of objects, or ``{"reads": [...]}``). Columns: ``subscription`` (subscription number), ``read_at``
(local time ``YYYY-MM-DDTHH:MM[:SS]``, an ISO time with an offset, or a Jalali date ``1405/09/07`` with an
optional ``HH:MM``), ``code`` (read code), and optionally ``active``, ``peak``, ``offpeak``, ``maximeter_kw``,
``reactive`` (register values, whole numbers), ``lat``, ``lon`` (degrees). A file without the required
columns, with unknown columns, or not in UTF-8 is refused whole; a bad row is refused alone and reported
with its line number (the header is line 1 of a CSV file; the first object is line 1 of a JSON file).

Pure module: no database.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from barq.bulk import without_gc
from barq.calendar import parse_jalali
from barq.errors import ValidationError
from barq.ids import normalize_digits

I64 = NDArray[np.int64]
MISSING: Final = -1
"""Sentinel of an absent register value or position in the integer columns."""

REQUIRED: Final = ("subscription", "read_at", "code")
REGISTERS: Final = ("active", "peak", "offpeak", "maximeter_kw", "reactive")
OPTIONAL: Final = (*REGISTERS, "lat", "lon")
COLUMNS: Final = (*REQUIRED, *OPTIONAL)
FILE_CODES: Final = ("read", "door_closed", "broken", "missing", "tamper", "replaced", "hazard")
"""Codes a handheld, the API or a reader may send; ``self`` comes only from a self-read."""
NEEDS_VALUE: Final = frozenset({"read", "self"})
NO_VALUE: Final = frozenset({"door_closed", "missing", "hazard"})
MAX_REGISTER: Final = 10**9 - 1
FIELD_TITLES: Final = {
    "file": "پرونده",
    "subscription": "شماره اشتراک",
    "read_at": "زمان قرائت",
    "code": "کد قرائت",
    "active": "رقم کنتور",
    "peak": "رقم اوج‌بار",
    "offpeak": "رقم کم‌بار",
    "maximeter_kw": "دیماند (ماکسیمتر)",
    "reactive": "رقم راکتیو",
    "lat": "عرض جغرافیایی",
    "lon": "طول جغرافیایی",
    "photo": "عکس",
    "row": "ردیف",
}


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str
    subscription: str = ""


@dataclass
class Incoming:
    """N accepted rows as columns; ``errors`` holds the refused rows."""

    line: I64
    subscription: list[str]
    read_at: NDArray[np.datetime64]  # UTC, seconds
    read_on: NDArray[np.datetime64]  # local business date
    code: list[str]
    registers: dict[str, I64]  # MISSING where absent
    lat_e6: I64
    lon_e6: I64
    photo_id: I64
    errors: list[RowError] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.line.shape[0])

    def take(self, keep: NDArray[np.bool_]) -> Incoming:
        idx = np.flatnonzero(keep)
        return Incoming(
            line=self.line[idx],
            subscription=[self.subscription[i] for i in idx.tolist()],
            read_at=self.read_at[idx],
            read_on=self.read_on[idx],
            code=[self.code[i] for i in idx.tolist()],
            registers={k: v[idx] for k, v in self.registers.items()},
            lat_e6=self.lat_e6[idx],
            lon_e6=self.lon_e6[idx],
            photo_id=self.photo_id[idx],
            errors=self.errors,
        )


def _refuse(message: str, detail: str) -> ValidationError:
    return ValidationError(message, field="file", detail=detail)


def decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(
            f"پرونده با کدگذاری UTF-8 نیست (بایت {exc.start + 1}); آن را با UTF-8 ذخیره کنید",
            f"not UTF-8 at byte {exc.start + 1}",
        ) from exc
    return text.removeprefix("\ufeff")


def _check_header(names: Sequence[str]) -> None:
    missing = [c for c in REQUIRED if c not in names]
    unknown = [c for c in names if c not in COLUMNS]
    dup = sorted({c for c in names if names.count(c) > 1})
    if missing or unknown or dup:
        parts = []
        if missing:
            parts.append("ستون‌های لازم نیست: " + "، ".join(missing))
        if unknown:
            parts.append("ستون ناشناخته: " + "، ".join(unknown))
        if dup:
            parts.append("ستون تکراری: " + "، ".join(dup))
        raise _refuse(
            "ستون‌های پرونده درست نیست — " + "؛ ".join(parts),
            f"columns: missing={missing} unknown={unknown} duplicate={dup}",
        )


def rows_in(data: bytes) -> int:
    """About how many reads a file holds, before it is parsed: its objects (JSON) or its lines (CSV)."""
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return data.count(b"{") if head[:1] in (b"[", b"{") else data.count(b"\n")


@without_gc
def parse_file(data: bytes, *, tz: ZoneInfo, filename: str = "") -> Incoming:
    """A CSV or JSON file of reads (chosen by the first character, else by the file name)."""
    text = decode(data)
    stripped = text.lstrip()
    if not stripped:
        raise _refuse("پرونده خالی است", "empty file")
    if stripped[0] in "[{" or filename.lower().endswith(".json"):
        return parse_json(text, tz=tz)
    return parse_csv(text, tz=tz)


def parse_csv(text: str, *, tz: ZoneInfo) -> Incoming:
    if '"' not in text:  # no quoting: a plain split is many times faster than the csv module
        return _parse_plain_csv(text, tz=tz)
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise _refuse("پرونده خالی است", "empty file") from None
    except csv.Error as exc:
        raise _refuse("سطر عنوان پرونده CSV خوانده نشد", str(exc)) from exc
    _check_header(header)
    try:
        numbered = list(enumerate(reader, start=2))
    except csv.Error as exc:
        raise _refuse(f"پرونده CSV در سطر {reader.line_num} خراب است", str(exc)) from exc
    return _from_rows(header, numbered, tz=tz)


def _parse_plain_csv(text: str, *, tz: ZoneInfo) -> Incoming:
    first = text.split("\n", 1)[0].removesuffix("\r")
    if text.isascii() and first.isprintable():
        header = [h.strip() for h in first.split(",")]
        _check_header(header)
        fast = _clean_columns(text.encode(), header, tz=tz)
        if fast is not None:
            return fast
    lines = text.splitlines()
    if not lines:
        raise _refuse("پرونده خالی است", "empty file")
    header = [h.strip() for h in lines[0].split(",")]
    _check_header(header)
    body, width = lines[1:], len(header)
    if all(line.count(",") == width - 1 for line in body):
        # every line has its fields: the whole body is split at once and the columns sliced out of it
        fields = ",".join(body).split(",")
        raw = {name: fields[i::width] for i, name in enumerate(header)}
        return from_columns(raw, np.arange(2, len(body) + 2, dtype=np.int64), tz=tz, errors=[])
    return _from_rows(header, [(k, line.split(",")) for k, line in enumerate(body, start=2)], tz=tz)


# a clean plain file, read from its bytes

_PAD: Final = 64
"""The longest field the clean path takes; as many zeros follow the bytes, so every field's window fits."""


def _clean_columns(data: bytes, header: list[str], *, tz: ZoneInfo) -> Incoming | None:
    """A plain ASCII CSV file whose every line has its fields and every field is clean, parsed from its bytes
    at once: subscription numbers of digits, known codes in lower case, times ``YYYY-MM-DDTHH:MM[:SS]`` of
    real dates, registers of at most nine digits. ``None`` for any other file, which the general path then
    parses with a message for each bad row. A million rows in 1.5 s instead of 3.4 s (docs/performance.md)."""
    width = len(header)
    body = data[data.index(b"\n") + 1 :] if b"\n" in data else b""
    body = body.replace(b"\r\n", b"\n")
    if not body:
        return None
    if not body.endswith(b"\n"):
        body += b"\n"
    buf = np.frombuffer(body + bytes(_PAD), dtype=np.uint8)
    head = buf[: len(body)]
    control = head < ord(" ")
    if (control & (head != ord("\n"))).any():  # a tab, a lone CR, a NUL…
        return None
    seps = np.flatnonzero(control | (head == ord(",")))
    if seps.shape[0] % width:
        return None
    ends = seps.reshape(-1, width)
    kinds = buf[ends]
    if not ((kinds[:, -1] == ord("\n")).all() and (kinds[:, :-1] == ord(",")).all()):
        return None  # a line with more or fewer fields, or a blank line
    starts = np.empty_like(ends)
    starts.reshape(-1)[0] = 0
    starts.reshape(-1)[1:] = seps[:-1] + 1
    n = int(ends.shape[0])
    cells = {name: _cells(buf, starts[:, k], ends[:, k]) for k, name in enumerate(header)}
    if any(c is None for c in cells.values()):
        return None
    subs, codes, stamps = cells["subscription"], cells["code"], cells["read_at"]
    assert subs is not None and codes is not None and stamps is not None
    if subs.shape[1] > 18 or not _all_digits(subs):
        return None
    code_arr = _clean_codes(codes)
    moments = _clean_times(stamps)
    registers = {name: _clean_ints(c) if (c := cells.get(name)) is not None else _missing(n) for name in REGISTERS}
    if code_arr is None or moments is None or any(v is None for v in registers.values()):
        return None
    errors: list[RowError] = []
    bad = np.zeros(n, dtype=np.bool_)
    lines = np.arange(2, n + 2, dtype=np.int64)
    numbers = _texts(subs)
    lat, lon = (
        _degrees(_texts(c), name, limit, lines, numbers, bad, errors)
        if (c := cells.get(name)) is not None
        else _missing(n)
        for name, limit in (("lat", 90), ("lon", 180))
    )
    read_at, read_on = _local_to_utc(moments, tz)
    return _finish(lines, numbers, code_arr, read_at, read_on, cast(dict[str, I64], registers), (lat, lon), bad, errors)


def _missing(n: int) -> I64:
    return np.full(n, MISSING, dtype=np.int64)


def _cells(buf: NDArray[np.uint8], starts: I64, ends: I64) -> NDArray[np.uint8] | None:
    """Each field's bytes, left-aligned in a row of the longest field's width, padded with 0: rows of a window
    sliding over the bytes (taking whole rows of it costs a tenth of gathering byte by byte). ``buf`` ends
    with ``_PAD`` zeros; None for a field longer than that."""
    lengths = ends - starts
    width = max(int(lengths.max(initial=0)), 1)
    if width > _PAD:
        return None
    rows = np.lib.stride_tricks.sliding_window_view(buf, width)[starts]
    return np.where(np.arange(width) < lengths[:, None], rows, np.uint8(0))


def _all_digits(cells: NDArray[np.uint8]) -> bool:
    """Every field is one or more ASCII digits."""
    digit = (cells >= ord("0")) & (cells <= ord("9"))
    return bool((digit | (cells == 0)).all() and digit[:, 0].all())


def _texts(cells: NDArray[np.uint8]) -> list[str]:
    texts: list[str] = cells.view(f"S{cells.shape[1]}").reshape(-1).astype(np.str_).tolist()
    return texts


def _clean_codes(cells: NDArray[np.uint8]) -> NDArray[np.str_] | None:
    """Codes, each exactly one of the known ones (told apart by length and first letter, then compared whole);
    None if any is not."""
    known = {(len(c), c[0]): c for c in (*FILE_CODES, "self")}
    lengths = (cells != 0).sum(axis=1)
    key = lengths * 256 + cells[:, 0]
    out = np.zeros(cells.shape[0], dtype=np.int64)
    names: list[str] = []
    for k in np.flatnonzero(np.bincount(key)).tolist():
        code = known.get((k // 256, chr(k % 256)))
        rows = np.flatnonzero(key == k)
        if code is None or not (cells[rows, : len(code)] == np.frombuffer(code.encode(), dtype=np.uint8)).all():
            return None
        out[rows] = len(names)
        names.append(code)
    return np.array(names or [""], dtype=np.str_)[out]


def _clean_ints(cells: NDArray[np.uint8]) -> I64 | None:
    """Fields of at most nine digits as integers, an empty field as MISSING; None if any is another thing."""
    if cells.shape[1] > 9:
        return None
    digit = (cells >= ord("0")) & (cells <= ord("9"))
    if not (digit | (cells == 0)).all():
        return None
    values = np.zeros(cells.shape[0], dtype=np.int64)
    for k in range(cells.shape[1]):  # left-aligned: each digit shifts what came before
        d = cells[:, k]
        more = d != 0
        values = np.where(more, values * 10 + (d.astype(np.int64) - ord("0")), values)
    values[cells[:, 0] == 0] = MISSING
    return values


def _clean_times(cells: NDArray[np.uint8]) -> NDArray[np.datetime64] | None:
    """Local times ``YYYY-MM-DDTHH:MM[:SS]``, every one of one length and a real moment; None otherwise."""
    width = cells.shape[1]
    if width not in (16, 19) or cells.shape[0] == 0 or not (cells[:, -1] != 0).all():
        return None
    marks = {4: "-", 7: "-", 10: "T", 13: ":", **({16: ":"} if width == 19 else {})}
    for k, mark in marks.items():
        if not (cells[:, k] == ord(mark)).all():
            return None
    digits = [k for k in range(width) if k not in marks]
    sub = cells[:, digits]
    if not ((sub >= ord("0")) & (sub <= ord("9"))).all():
        return None

    def number(a: int, b: int) -> I64:
        out = np.zeros(cells.shape[0], dtype=np.int64)
        for k in range(a, b):
            out = out * 10 + (cells[:, k] - ord("0"))
        return out

    year, month, day = number(0, 4), number(5, 7), number(8, 10)
    hour, minute = number(11, 13), number(14, 16)
    second = number(17, 19) if width == 19 else np.zeros(cells.shape[0], dtype=np.int64)
    if not ((month >= 1) & (month <= 12) & (day >= 1) & (hour < 24) & (minute < 60) & (second < 60)).all():
        return None
    first = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    dates = first.astype("datetime64[D]") + (day - 1)
    if not (dates.astype("datetime64[M]") == first).all():  # the 31st of a 30-day month, 29 February…
        return None
    moments: NDArray[np.datetime64] = dates.astype("datetime64[s]") + (hour * 3600 + minute * 60 + second)
    return moments


def _from_rows(header: list[str], numbered: list[tuple[int, list[str]]], *, tz: ZoneInfo) -> Incoming:
    """Rows of the header's width become columns; a row of another width is refused (a blank one skipped)."""
    width = len(header)
    errors: list[RowError] = []
    if any(len(row) != width for _, row in numbered):
        kept = []
        for k, row in numbered:
            if len(row) == width:
                kept.append((k, row))
            elif any(cell.strip() for cell in row):
                errors.append(RowError(k, "row", f"این سطر {len(row)} ستون دارد؛ {width} ستون لازم است"))
        numbered = kept
    lines = np.array([k for k, _ in numbered], dtype=np.int64)
    columns = list(zip(*(row for _, row in numbered), strict=True)) if numbered else [() for _ in header]
    raw = {name: list(columns[i]) for i, name in enumerate(header)}
    return from_columns(raw, lines, tz=tz, errors=errors)


def parse_json(text: str, *, tz: ZoneInfo) -> Incoming:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refuse(f"پرونده JSON در سطر {exc.lineno} خراب است", str(exc)) from exc
    items = doc.get("reads") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise _refuse('پرونده JSON باید فهرستی از قرائت‌ها یا {"reads": [...]} باشد', "not a list of reads")
    return parse_records(items, tz=tz)


def parse_records(items: Sequence[Any], *, tz: ZoneInfo, photo_ids: Sequence[int] | None = None) -> Incoming:
    """Reads as a list of objects (a JSON file, the API, a page). Line k is the k-th object (from 1)."""
    names: set[str] = set()
    errors: list[RowError] = []
    good: list[Mapping[str, Any]] = []
    lines: list[int] = []
    photos: list[int] = []
    for k, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            errors.append(RowError(k, "row", "هر قرائت باید یک شیء با نام ستون‌ها باشد"))
            continue
        names.update(str(key) for key in item)
        good.append(item)
        lines.append(k)
        photos.append(photo_ids[k - 1] if photo_ids is not None else MISSING)
    if good:
        _check_header([c for c in COLUMNS if c in names] + sorted(names - set(COLUMNS)))
    raw = {name: ["" if (v := item.get(name)) is None else str(v) for item in good] for name in COLUMNS}
    out = from_columns(raw, np.array(lines, dtype=np.int64), tz=tz, errors=errors)
    if photo_ids is not None:
        by_line = dict(zip(lines, photos, strict=True))
        out.photo_id = np.array([by_line[int(x)] for x in out.line], dtype=np.int64)
    return out


# ------------------------------------------------------------------------------------------ columns


def _ints(
    values: list[str], name: str, lines: I64, subs: list[str], bad: NDArray[np.bool_], errors: list[RowError]
) -> I64:
    """Whole non-negative numbers (Persian digits allowed); '' is MISSING. A clean column (ASCII digits,
    at most nine) is parsed at once; anything else row by row, so each bad value gets its message."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    filled = [v or "0" for v in values]
    joined = "".join(filled)
    if joined.isascii() and joined.isdigit() and max(map(len, filled)) <= 9:
        parsed = np.fromstring(",".join(filled), dtype=np.int64, sep=",")
        if parsed.shape[0] == n:
            parsed[np.array([not v for v in values], dtype=np.bool_)] = MISSING
            return parsed
    out = np.full(n, MISSING, dtype=np.int64)
    for i, raw in enumerate(values):
        text = normalize_digits(raw).strip().replace(",", "").replace("٬", "")
        if not text:
            continue
        if text.isdigit() and len(text) <= 9:
            out[i] = int(text)
            continue
        if not bad[i]:
            if text.lstrip("-").isdigit():
                msg = f"{FIELD_TITLES[name]} نمی‌تواند منفی باشد" if text.startswith("-") else "بیش از ۹ رقم است"
            else:
                msg = f"{FIELD_TITLES[name]} باید عدد صحیح باشد، «{raw}» نیست"
            errors.append(RowError(int(lines[i]), name, msg, subs[i]))
        bad[i] = True
    return out


def _degrees(
    values: list[str],
    name: str,
    limit: int,
    lines: I64,
    subs: list[str],
    bad: NDArray[np.bool_],
    errors: list[RowError],
) -> I64:
    """Degrees as whole millionths (a position needs no more); '' is MISSING. Parsed as binary floating
    point, which is exact here: at most nine significant digits, rounded to the millionth."""
    n = len(values)
    out = np.full(n, MISSING, dtype=np.int64)
    if n == 0 or not any(values):
        return out
    arr = np.char.strip(np.array(values, dtype=np.str_))
    given = arr != ""
    try:
        number = np.where(given, arr, "nan").astype(np.float64)
    except ValueError:  # Persian digits or junk: row by row
        number = np.full(n, np.nan)
        for i in np.flatnonzero(given).tolist():
            with suppress(ValueError):
                number[i] = float(normalize_digits(str(arr[i])))
    wrong = given & ~(np.abs(np.nan_to_num(number, nan=np.inf)) <= limit)
    for i in np.flatnonzero(wrong & ~bad).tolist():
        message = f"{FIELD_TITLES[name]} باید عددی بین ‎-{limit} و {limit} باشد"
        errors.append(RowError(int(lines[i]), name, message, subs[i]))
    bad |= wrong
    ok = given & ~wrong
    out[ok] = np.rint(number[ok] * 1_000_000).astype(np.int64)
    return out


def _fixed_offsets(tz: ZoneInfo, days: Iterable[np.datetime64]) -> dict[np.datetime64, int]:
    """The zone's UTC offset (seconds) at local noon of each date."""
    offsets = {}
    for d in days:
        local = datetime.combine(date.fromisoformat(str(d)), time(12), tzinfo=tz)
        offset = local.utcoffset() or timedelta(0)
        offsets[d] = int(offset.total_seconds())
    return offsets


def _local_to_utc(local: NDArray[np.datetime64], tz: ZoneInfo) -> tuple[NDArray[np.datetime64], NDArray[np.datetime64]]:
    """Naive local times (seconds) → (UTC instant, local date), with the zone's offset at noon of each date."""
    local_day = local.astype("datetime64[D]")
    days, inverse = np.unique(local_day, return_inverse=True)
    offsets = _fixed_offsets(tz, days)
    shift = np.array([offsets[d] for d in days], dtype=np.int64)[inverse.reshape(-1)]
    return local - shift.astype("timedelta64[s]"), local_day


def _times(
    values: list[str], lines: I64, subs: list[str], tz: ZoneInfo, bad: NDArray[np.bool_], errors: list[RowError]
) -> tuple[NDArray[np.datetime64], NDArray[np.datetime64]]:
    """(UTC instant, local date) per row. Fast path: naive local ISO times; else row by row."""
    n = len(values)
    utc = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
    local_day = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if n == 0:
        return utc, local_day
    try:
        if any("+" in v or len(v) < 10 for v in values):
            raise ValueError
        local = np.array(values, dtype="datetime64[s]")
        if np.isnat(local).any():
            raise ValueError
        return _local_to_utc(local, tz)
    except ValueError:
        pass
    for i, raw in enumerate(values):
        try:
            moment = parse_moment(raw, tz)
        except ValueError:
            if not bad[i]:
                errors.append(
                    RowError(
                        int(lines[i]),
                        "read_at",
                        f"زمان قرائت «{raw}» خوانا نیست (مثال: 2026-11-28T09:30 یا ۱۴۰۵/۰۹/۰۷)",
                        subs[i],
                    )
                )
            bad[i] = True
            continue
        utc[i] = np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "s")
        local_day[i] = np.datetime64(moment.astimezone(tz).date(), "D")
    return utc, local_day


def parse_moment(raw: str, tz: ZoneInfo) -> datetime:
    """An ISO date-time (naive = local), an ISO date, or a Jalali date with an optional HH:MM."""
    text = normalize_digits(raw).strip()
    if not text:
        raise ValueError("empty")
    if text[:4].isdigit() and int(text[:4]) < 1700:  # Jalali
        day_part, _, time_part = text.replace("T", " ").partition(" ")
        try:
            day = parse_jalali(day_part)
        except ValidationError as exc:
            raise ValueError(str(exc)) from exc
        clock = time.fromisoformat(time_part.strip()) if time_part.strip() else time(12)
        return datetime.combine(day, clock, tzinfo=tz)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def _flag(
    mask: NDArray[np.bool_],
    bad: NDArray[np.bool_],
    errors: list[RowError],
    lines: I64,
    subs: list[str],
    name: str,
    msg: str,
) -> None:
    """Refuse the rows of ``mask`` not refused yet, all with one message."""
    for i in np.flatnonzero(mask & ~bad).tolist():
        errors.append(RowError(int(lines[i]), name, msg, subs[i]))
    bad |= mask


def from_columns(raw: dict[str, list[str]], lines: I64, *, tz: ZoneInfo, errors: list[RowError]) -> Incoming:
    n = int(lines.shape[0])
    bad = np.zeros(n, dtype=np.bool_)
    subs = raw["subscription"]
    sub_arr = np.char.strip(np.array(subs, dtype=np.str_)) if n else np.zeros(0, dtype="<U1")
    if n and not ("".join(subs).isascii() and np.char.isdigit(sub_arr).all()):  # Persian digits or junk
        sub_arr = np.array([normalize_digits(x).strip() for x in subs], dtype=np.str_)
    subs = sub_arr.tolist()
    _flag(~np.char.isdigit(sub_arr), bad, errors, lines, subs, "subscription", "شماره اشتراک خالی یا نادرست است")
    code_arr = np.char.lower(np.char.strip(np.array(raw["code"], dtype=np.str_))) if n else np.zeros(0, dtype="<U1")
    for i in np.flatnonzero(~np.isin(code_arr, [*FILE_CODES, "self"]) & ~bad).tolist():
        errors.append(
            RowError(
                int(lines[i]), "code", f"کد قرائت «{code_arr[i]}» شناخته نیست؛ یکی از: {'، '.join(FILE_CODES)}", subs[i]
            )
        )
        bad[i] = True
    read_at, read_on = _times(raw["read_at"], lines, subs, tz, bad, errors)
    registers = {name: _ints(raw.get(name) or [""] * n, name, lines, subs, bad, errors) for name in REGISTERS}
    lat = _degrees(raw.get("lat") or [""] * n, "lat", 90, lines, subs, bad, errors)
    lon = _degrees(raw.get("lon") or [""] * n, "lon", 180, lines, subs, bad, errors)
    return _finish(lines, subs, code_arr, read_at, read_on, registers, (lat, lon), bad, errors)


def _finish(
    lines: I64,
    subs: list[str],
    code_arr: NDArray[np.str_],
    read_at: NDArray[np.datetime64],
    read_on: NDArray[np.datetime64],
    registers: dict[str, I64],
    position: tuple[I64, I64],
    bad: NDArray[np.bool_],
    errors: list[RowError],
) -> Incoming:
    """The rules between a row's columns, then the accepted rows."""
    n = int(lines.shape[0])
    lat, lon = position
    active = registers["active"]
    _flag(
        np.isin(code_arr, list(NEEDS_VALUE)) & (active == MISSING),
        bad,
        errors,
        lines,
        subs,
        "active",
        "برای این کد، رقم کنتور لازم است",
    )
    _flag(
        np.isin(code_arr, list(NO_VALUE)) & (active != MISSING),
        bad,
        errors,
        lines,
        subs,
        "active",
        "با این کد رقم کنتور ثبت نمی‌شود",
    )
    _flag(
        (lat == MISSING) != (lon == MISSING),
        bad,
        errors,
        lines,
        subs,
        "lat",
        "موقعیت باید هر دو عرض و طول را داشته باشد",
    )
    full = Incoming(
        line=lines,
        subscription=subs,
        read_at=read_at,
        read_on=read_on,
        code=code_arr.tolist(),
        registers=registers,
        lat_e6=lat,
        lon_e6=lon,
        photo_id=np.full(n, MISSING, dtype=np.int64),
        errors=errors,
    )
    return full.take(~bad) if bad.any() else full


def errors_csv(errors: Sequence[RowError]) -> str:
    """The refused rows as a CSV report (line, subscription, field, reason), ordered by line."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["line", "subscription", "field", "reason"])
    for e in sorted(errors, key=lambda e: (e.line, e.field)):
        w.writerow([e.line, e.subscription, FIELD_TITLES.get(e.field, e.field), e.message])
    return buf.getvalue()
