"""Parsing handheld files: the fast plain path and the quoted CSV path agree; every bad row is named."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import pytest

from barq.reading.incoming import MISSING, Incoming, _clean_columns, parse_file

TZ = ZoneInfo("Asia/Tehran")
PLAIN = (
    "subscription,read_at,code,active,lat,lon\n"
    "11000000000011,2026-11-21T09:30,read,12350,33.487123,48.355678\n"
    "11000000000012,2026-11-21T09:31:15,door_closed,,,\n"
    "۱۱۰۰۰۰۰۰۰۰۰۰۱۳,۱۴۰۵/۰۸/۳۰ ۰۹:۳۲,read,۱۲۳۴۵,,\n"
    "11000000000014,2026-11-21T06:00:00+00:00,broken,,,\n"
    "11000000000015,2026-11-21T09:33,read\n"
    "\n"
)


def test_plain_and_quoted_files_agree() -> None:
    plain = parse_file(PLAIN.encode(), tz=TZ)
    quoted = parse_file(PLAIN.replace("broken", '"broken"').encode(), tz=TZ)
    for inc in (plain, quoted):
        assert inc.line.tolist() == [2, 3, 4, 5]
        assert inc.subscription == ["11000000000011", "11000000000012", "11000000000013", "11000000000014"]
        assert inc.code == ["read", "door_closed", "read", "broken"]
        assert inc.registers["active"].tolist() == [12350, MISSING, 12345, MISSING]
        assert inc.lat_e6.tolist() == [33_487_123, MISSING, MISSING, MISSING]
        assert [str(d) for d in inc.read_on] == ["2026-11-21"] * 4
        # 09:30 Tehran is 06:00 UTC; the Jalali date without a time is noon; an offset is kept
        assert str(inc.read_at[0]) == "2026-11-21T06:00:00"
        assert str(inc.read_at[3]) == "2026-11-21T06:00:00"
        ((error),) = inc.errors
        assert (error.line, error.field) == (6, "row")


def test_bad_values_fall_back_row_by_row() -> None:
    text = (
        "subscription,read_at,code,active,lat,lon\n"
        "11000000000011,2026-11-21T09:30,read,12 350,91,48\n"
        "11000000000012,2026-11-21T09:30,read,1234567890,,\n"
        "11000000000013,2026-11-21T09:30,read,77,33.5,\n"
        "11000000000014,2026-11-21T09:30,read,88,33.5,48.2\n"
    )
    inc = parse_file(text.encode(), tz=TZ)
    by_line = {e.line: (e.field, e.subscription) for e in inc.errors}
    assert by_line == {2: ("active", "11000000000011"), 3: ("active", "11000000000012"), 4: ("lat", "11000000000013")}
    assert inc.registers["active"].tolist() == [88]
    assert np.array_equal(inc.lon_e6, [48_200_000])


def _same(a: Incoming, b: Incoming) -> None:
    assert a.line.tolist() == b.line.tolist()
    assert a.subscription == b.subscription and a.code == b.code
    assert np.array_equal(a.read_at, b.read_at) and np.array_equal(a.read_on, b.read_on)
    assert {k: v.tolist() for k, v in a.registers.items()} == {k: v.tolist() for k, v in b.registers.items()}
    assert a.lat_e6.tolist() == b.lat_e6.tolist() and a.lon_e6.tolist() == b.lon_e6.tolist()
    assert a.errors == b.errors


def _quoted(text: str) -> Incoming:
    """The same file through the csv module (a quoted header name sends it there)."""
    return parse_file(text.replace("subscription", '"subscription"', 1).encode(), tz=TZ)


def _clean_file(seconds: bool, rows: int = 300) -> str:
    rng = np.random.default_rng(7)
    out = ["subscription,read_at,code,active,peak,offpeak,lat,lon"]
    for k in range(rows):
        code = ["read", "door_closed", "broken", "missing", "tamper", "replaced", "hazard"][k % 7]
        value = str(rng.integers(0, 10 ** rng.integers(1, 10))) if code in ("read", "broken", "tamper") else ""
        tou = [str(rng.integers(0, 99999)), str(rng.integers(0, 9))] if value and k % 3 == 0 else ["", ""]
        where = [f"{30 + k % 7}.{k:06d}", f"4{k % 9}.5"] if k % 4 == 0 else ["", ""]
        day = f"2026-{1 + k % 12:02d}-{1 + k % 28:02d}"  # both sides of the zone's summer time
        at = f"{day}T{k % 24:02d}:{k % 60:02d}" + (f":{(7 * k) % 60:02d}" if seconds else "")
        out.append(",".join([str(11 * 10**12 + k * 7919), at, code, value, *tou, *where]))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("seconds", [True, False])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_clean_file_is_read_from_its_bytes_as_the_general_path_reads_it(seconds: bool, newline: str) -> None:
    text = _clean_file(seconds).replace("\n", newline)
    header = text.split(newline, 1)[0].split(",")
    fast = _clean_columns(text.encode(), header, tz=TZ)
    assert fast is not None and len(fast) == 300
    assert sum(e.field == "active" for e in fast.errors) == 0
    _same(fast, _quoted(text))
    _same(parse_file(text.encode(), tz=TZ), fast)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (",read,", ",READ,"),  # codes are lowered by the general path
        (",read,", ",reed,"),  # an unknown code: that row's error
        ("T00:00", " 00:00"),  # another way of writing a time
        ("2026-01-01T", "2026-02-30T"),  # not a date
        ("2026-01-01T00:00", "2026-01-01"),  # a date alone
        ("11000000000000,", "11000000000000 ,"),  # a space
        ("11000000000000,", ","),  # no subscription
        ("\n11000000007919,", "\n\n11000000007919,"),  # a blank line
        (",door_closed,,", ",door_closed,1234567890,"),  # ten digits
        (",door_closed,,", ",door_closed,-5,"),  # negative
    ],
)
def test_a_file_not_clean_is_left_to_the_general_path(old: str, new: str) -> None:
    text = _clean_file(seconds=False)
    assert old in text
    text = text.replace(old, new, 1)
    header = text.split("\n", 1)[0].split(",")
    assert _clean_columns(text.encode(), header, tz=TZ) is None
    _same(parse_file(text.encode(), tz=TZ), _quoted(text))
