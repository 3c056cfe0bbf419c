"""Time. Events are aware UTC datetimes; business dates are dates in the company's time zone.

Services take a ``Clock`` so tests can fix the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


class Clock:
    def __init__(self, tz: str = "Asia/Tehran") -> None:
        self.tz = ZoneInfo(tz)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)


@dataclass
class FixedClock(Clock):
    """A clock that stands still until told to move (tests, demo generation)."""

    moment: datetime = field(default_factory=lambda: datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    tz_name: str = "Asia/Tehran"

    def __post_init__(self) -> None:
        super().__init__(self.tz_name)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment = self.moment + delta
