"""Parsing handheld files: the fast plain path and the quoted CSV path agree; every bad row is named."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np

from barq.reading.incoming import MISSING, parse_file

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
    by_line = {e.line: e.field for e in inc.errors}
    assert by_line == {2: "active", 3: "active", 4: "lat"}
    assert inc.registers["active"].tolist() == [88]
    assert np.array_equal(inc.lon_e6, [48_200_000])
