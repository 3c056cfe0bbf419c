"""Test data for reader scorecards: visits, exceptions and complaints of Aban 1405 (cycle 140508) on a
``build_reading`` world, with every figure worked out by hand in ``EXPECTED``.

Besides the route readers (reader_a on R11A: subscriptions 0 and 4; reader_b on R11B: 2; reader_c on R12:
1, 3, 5) there are two readers without a route: ``reader_a2`` of contractor a and ``reader_co``, a company
reader. Every route's window is days 1–25 of the month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import insert
from sqlalchemy.orm import Session

from barq.auth.service import create_user
from barq.calendar import TEHRAN, from_jalali
from barq.metering.models import MeterRead, ReadPhoto
from barq.reading.scorecard import Counts, Rules
from barq.workorders.models import WorkOrder
from tests.factories import PASSWORD, World
from tests.reading_factories import Reading

CYCLE = 140508
WEIGHTS = {
    "completion": 30,
    "on_time": 20,
    "door_closed": 15,
    "exceptions": 10,
    "proven_wrong": 15,
    "complaints": 5,
    "photo": 5,
}
RULES = Rules(weights=WEIGHTS)


def jday(year: int, month: int, day: int) -> datetime:
    """Noon in Tehran on a Jalali day, as an aware UTC datetime."""
    return datetime.combine(from_jalali(year, month, day), time(12), tzinfo=TEHRAN).astimezone(UTC)


@dataclass
class ScorecardData:
    reading: Reading
    users: dict[str, int]
    subs: list[int]  # world.subscription_ids, by index

    @property
    def world(self) -> World:
        return self.reading.world


class Writer:
    """Inserts reads and work orders directly, as the read pipeline and the exception queue would leave them."""

    def __init__(self, s: Session, world: World) -> None:
        self.s = s
        self.world = world
        self.wo_seq = 0
        photo = ReadPhoto(content_type="image/jpeg", sha256="0" * 64, data=b"jpeg", created_at=world.clock.now())
        s.add(photo)
        s.flush()
        self.photo_id = photo.id

    def read(
        self,
        sub: int,
        on: tuple[int, int, int],
        *,
        reader: int | None,
        code: str = "read",
        source: str = "handheld",
        status: str = "valid",
        resolution: str | None = None,
        photo: bool = True,
        work_order_id: int | None = None,
    ) -> None:
        self.s.execute(
            insert(MeterRead).values(
                subscription_id=sub,
                read_on=from_jalali(*on),
                code=code,
                source=source,
                active=None if code == "door_closed" else 12_300,
                estimated=source == "estimate",
                status=status,
                reason="ok" if status == "valid" and resolution is None else "high",
                resolution=resolution,
                reader_id=reader,
                read_at=jday(*on),
                photo_id=self.photo_id if photo else None,
                work_order_id=work_order_id,
            )
        )

    def work_order(
        self, sub: int, district: str, at: datetime, *, type_code: str = "reread", state: str = "created"
    ) -> int:
        self.wo_seq += 1
        wo = WorkOrder(
            number=f"SC-{self.wo_seq:05d}",
            type_code=type_code,
            state=state,
            district_id=self.world.district_ids[district],
            subscription_id=sub,
            description="",
            created_by="clerk",
            created_at=at,
            due_at=at,
        )
        self.s.add(wo)
        self.s.flush()
        return wo.id


def extra_readers(world: World) -> dict[str, int]:
    with world.session() as s:
        for username, contractor in (("reader_a2", world.contractor_ids["a"]), ("reader_co", None)):
            u = create_user(
                s,
                username=username,
                full_name=f"مامور {username}",
                password=PASSWORD,
                roles=["reader"],
                clock=world.clock,
                actor="test",
                contractor_id=contractor,
            )
            world.users[username] = u.id
        s.commit()
    return {k: world.users[k] for k in ("reader_a", "reader_a2", "reader_b", "reader_c", "reader_co")}


def build_aban(reading: Reading) -> ScorecardData:
    """The reads and work orders of Aban 1405 described in ``EXPECTED``."""
    world = reading.world
    users = extra_readers(world)
    subs = world.subscription_ids
    a, a2, c, co = users["reader_a"], users["reader_a2"], users["reader_c"], users["reader_co"]
    with world.session() as s:
        w = Writer(s, world)
        # reader_a (R11A: subs 0 and 4): 3 visits, one door closed, one late and proven wrong by a re-read
        w.read(subs[0], (1405, 8, 10), reader=a)
        w.read(subs[4], (1405, 8, 5), reader=a, code="door_closed", photo=False)
        queue_wo = w.work_order(subs[4], "11", jday(1405, 8, 27))
        w.read(subs[4], (1405, 8, 27), reader=a, status="exception", resolution="reread", work_order_id=queue_wo)
        # reader_a2 (contractor a, no route): the latest visit of sub 0 before its customer complained
        w.read(subs[0], (1405, 8, 20), reader=a2)
        w.work_order(subs[0], "11", jday(1405, 9, 4))  # complaint, next cycle → reader_a2, Aban
        w.work_order(subs[0], "11", jday(1405, 8, 22), type_code="inspection")  # not a re-read
        # reader_co (company reader, no route): stands in once on R11B without a photo
        w.read(subs[2], (1405, 8, 10), reader=co, photo=False)
        # reader_c (R12: subs 1, 3, 5): 10 visits
        for day in (2, 3, 4, 5):
            w.read(subs[1], (1405, 8, day), reader=c, code="door_closed" if day == 2 else "read", photo=day != 2)
        w.read(subs[3], (1405, 8, 2), reader=c)
        w.read(subs[3], (1405, 8, 3), reader=c, status="exception")  # still in the queue
        w.read(subs[3], (1405, 8, 26), reader=c, photo=False)  # day 26: late
        w.read(subs[5], (1405, 8, 2), reader=c)
        w.read(subs[5], (1405, 8, 3), reader=c)
        w.read(subs[5], (1405, 8, 4), reader=c, resolution="accept")  # an exception found right
        w.read(subs[5], (1405, 7, 10), reader=c)  # Mehr: the visit the complaint of Mehr 20 is about
        w.work_order(subs[1], "12", jday(1405, 8, 6))  # complaint within the cycle, after the visits
        w.work_order(subs[1], "12", jday(1405, 8, 7), state="cancelled")  # cancelled: not counted
        w.work_order(subs[5], "12", jday(1405, 7, 20))  # about the Mehr visit, not an Aban one
        # 1405/10/01 00:30 in Tehran is still 1405/09/30 in UTC: two cycles after the visit, not counted
        w.work_order(subs[3], "12", datetime(2026, 12, 21, 21, 0, tzinfo=UTC))
        # not visits: a self-read, a system estimate, an unattributed demo read, a queue re-read
        w.read(subs[1], (1405, 8, 12), reader=None, source="self")
        w.read(subs[3], (1405, 8, 12), reader=None, source="estimate", code="estimate")
        w.read(subs[5], (1405, 8, 12), reader=None, source="demo")
        w.read(subs[3], (1405, 8, 14), reader=c, source="reread")
        # reader_b (R11B: sub 2) made no visit
        s.commit()
    return ScorecardData(reading=reading, users=users, subs=list(subs))


# username -> counts in Aban 1405 (reader_c also has a Mehr line: see MEHR_C)
EXPECTED: dict[str, Counts] = {
    "reader_a": Counts(
        ordered=2, completed=2, visits=3, on_time=2, door_closed=1, exceptions=1, proven_wrong=1, photos=2
    ),
    "reader_a2": Counts(visits=1, on_time=1, complaints=1, photos=1),
    "reader_b": Counts(ordered=1),
    "reader_c": Counts(
        ordered=3, completed=3, visits=10, on_time=9, door_closed=1, exceptions=2, complaints=1, photos=8
    ),
    "reader_co": Counts(visits=1, on_time=1),
}
MEHR_C = Counts(ordered=3, completed=1, visits=1, on_time=1, complaints=1, photos=1)
