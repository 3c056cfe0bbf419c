"""Bill-run use cases: start a run, rate it chunk by chunk (resumable), review its exceptions, approve it.

Set-based (architecture rule 8): due subscriptions and their reads are read in one query each, priced by
``rating.vector`` and written with the DBAPI connection inside the chunk's transaction (executemany on
SQLite, COPY on PostgreSQL) by a writer thread while the next chunk is priced. Each chunk commits its
bills, lines, exceptions and the run's counters together, so a run killed at any moment resumes where it
stopped: a subscription with a bill for the cycle, or an exception in this run, is never priced again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from barq import audit
from barq.auth import permissions as P
from barq.auth.service import Principal
from barq.billing.models import ISSUED_BILLS_SQL, Bill, BillLine, BillRun, BillRunException
from barq.billing.numbers import payment_ids
from barq.billing.posting import post_run_bills
from barq.billing.reads import ReadColumns, ReadSource, TableReadSource, epoch_days
from barq.calendar import from_jalali, month_length, to_jalali
from barq.clock import Clock
from barq.db import bulk_insert, fetch_columns
from barq.errors import Conflict, InvalidTransition, NotFound, ValidationError
from barq.rating.book import TariffLibrary, load_default_library
from barq.rating.engine import CODE_INDEX, LINE_CODES, DemandInput, addon_lines
from barq.rating.vector import RatingColumns, VectorResult, rate_bills
from barq.settings import Settings

I64 = NDArray[np.int64]
CHUNK = 50_000
HISTORY_CYCLES = 6
EXCEPTION_KINDS = {
    "no_read": "بدون قرائت معتبر در دوره",
    "estimated": "علی‌الحساب (برآوردی)",
    "high": "مصرف بسیار بیشتر از سابقه",
    "low": "مصرف بسیار کمتر از سابقه",
    "zero": "مصرف صفر",
    "negative": "مبلغ منفی (بستانکار)",
    "rating_error": "خطا در محاسبه",
}
RUN_STATE_NAMES = {"rating": "در حال محاسبه", "review": "بازبینی", "issued": "صادر شده", "cancelled": "ابطال"}


@dataclass(frozen=True)
class RunOptions:
    low_factor: float = 0.25
    high_factor: float = 3.0
    due_days: int = 10


def run_options(settings: Settings) -> RunOptions:
    return RunOptions(
        low_factor=settings.bill_low_factor, high_factor=settings.bill_high_factor, due_days=settings.bill_due_days
    )


def cycle_window(cycle: int) -> tuple[date, date]:
    """The Gregorian first and last day of a Jalali month cycle (yyyymm)."""
    year, month = divmod(cycle, 100)
    if not 1 <= month <= 12 or year < 1300:
        raise ValidationError("دوره باید به شکل سال و ماه شمسی باشد، مانند ۱۴۰۵۰۸", field="cycle")
    return from_jalali(year, month, 1), from_jalali(year, month, month_length(year, month))


def previous_cycle(cycle: int, months: int = 1) -> int:
    year, month = divmod(cycle, 100)
    index = year * 12 + (month - 1) - months
    return (index // 12) * 100 + index % 12 + 1


def cycle_of(day: date) -> int:
    j = to_jalali(day)
    return int(j.year) * 100 + int(j.month)


# ------------------------------------------------------------------------------------------ start


def start_bill_run(
    session: Session,
    *,
    principal: Principal,
    clock: Clock,
    cycle: int,
    district_ids: list[int] | None = None,
    route_ids: list[int] | None = None,
    options: RunOptions | None = None,
) -> BillRun:
    principal.require(P.BILLING_RUN)
    cycle_window(cycle)
    if principal.district_id is not None:
        if district_ids and set(district_ids) != {principal.district_id}:
            raise ValidationError("اجرای صورتحساب برای امور دیگر مجاز نیست", field="district_ids")
        district_ids = [principal.district_id]
    busy = session.scalar(select(BillRun.id).where(BillRun.cycle == cycle, BillRun.state == "rating"))
    if busy is not None:
        raise Conflict(
            f"اجرای {busy} برای همین دوره هنوز در حال محاسبه است؛ آن را ادامه دهید یا ابطال کنید",
            detail=f"run {busy} of cycle {cycle} is still rating",
        )
    opts = options or RunOptions()
    run = BillRun(
        cycle=cycle,
        district_ids=sorted(district_ids or []),
        route_ids=sorted(route_ids or []),
        state="rating",
        created_by=principal.username,
        created_at=clock.now(),
        options={"low_factor": opts.low_factor, "high_factor": opts.high_factor, "due_days": opts.due_days},
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="bill_run.start",
        subject_type="bill_run",
        subject_id=run.id,
        at=clock.now(),
        after={"cycle": cycle, "district_ids": run.district_ids, "route_ids": run.route_ids},
    )
    return run


# ------------------------------------------------------------------------------------------ rate


@dataclass
class _Due:
    """Due subscriptions of a run not yet billed for the cycle, as columns sorted by id."""

    ids: I64
    bill_id: I64
    group: I64
    sub_code: I64
    sub_codes: tuple[str, ...]
    zone: I64
    zones: tuple[str, ...]
    households: I64
    medical_from: NDArray[np.datetime64]
    medical_to: NDArray[np.datetime64]
    contract_kw: I64
    active: NDArray[np.bool_]

    def take(self, idx: I64) -> _Due:
        return _Due(
            ids=self.ids[idx],
            bill_id=self.bill_id[idx],
            group=self.group[idx],
            sub_code=self.sub_code[idx],
            sub_codes=self.sub_codes,
            zone=self.zone[idx],
            zones=self.zones,
            households=self.households[idx],
            medical_from=self.medical_from[idx],
            medical_to=self.medical_to[idx],
            contract_kw=self.contract_kw[idx],
            active=self.active[idx],
        )


def _due_subscriptions(session: Session, run: BillRun) -> _Due:
    """One query, read as Arrow columns: every due subscription not yet billed in the cycle nor an exception
    of this run. Only integers the service computed itself are put into the SQL text."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    where = ["s.supply_state IN ('active', 'disconnected')"]
    if run.district_ids:
        where.append(f"s.district_id IN ({', '.join(str(int(d)) for d in run.district_ids)})")
    if run.route_ids:
        where.append(f"s.route_id IN ({', '.join(str(int(r)) for r in run.route_ids)})")
    if run.cycle % 2 == 1:  # 60-day routes are read in even months
        where.append("(r.cycle_days IS NULL OR r.cycle_days <> 60)")
    sql = (
        "SELECT s.id, CAST(s.bill_id AS BIGINT), s.tariff_group, s.tariff_sub_code, p.zone, s.households, "
        f"COALESCE({epoch_days('s.medical_valid_from', sqlite)}, -1), "
        f"COALESCE({epoch_days('s.medical_valid_to', sqlite)}, -1), "
        # whole kilowatts, the fraction dropped as Python's int() drops it (PostgreSQL's CAST would round)
        f"CAST({'s.contract_kw' if sqlite else 'TRUNC(s.contract_kw)'} AS INTEGER), "
        "CASE WHEN s.supply_state = 'active' THEN 1 ELSE 0 END "
        "FROM subscription s JOIN premises p ON p.id = s.premises_id "
        "LEFT JOIN route r ON r.id = s.route_id "
        f"WHERE NOT EXISTS (SELECT 1 FROM bill b WHERE b.subscription_id = s.id AND b.cycle = {int(run.cycle)}) "
        "AND NOT EXISTS (SELECT 1 FROM bill_run_exception e "
        f"WHERE e.subscription_id = s.id AND e.run_id = {int(run.id)}) "
        f"AND {' AND '.join(where)} ORDER BY s.id"
    )
    cols = fetch_columns(session, sql)
    sub_code, sub_codes = _categories(cols[3])
    zone, zones = _categories(cols[4])

    def ints(i: int) -> I64:
        return np.array(cols[i], dtype=np.int64)

    def days(i: int) -> NDArray[np.datetime64]:
        raw = ints(i)
        return np.where(raw < 0, np.datetime64("NaT"), raw.astype("datetime64[D]"))

    return _Due(
        ids=ints(0),
        bill_id=ints(1),
        group=ints(2),
        sub_code=sub_code,
        sub_codes=sub_codes,
        zone=zone,
        zones=zones,
        households=ints(5),
        medical_from=days(6),
        medical_to=days(7),
        contract_kw=ints(8),
        active=ints(9) == 1,
    )


def _categories(column: tuple[str, ...]) -> tuple[I64, tuple[str, ...]]:
    """A text column as (index per row, sorted distinct values)."""
    names = tuple(sorted(set(column)))
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[v] for v in column], dtype=np.int64), names


def _history(session: Session, cycle: int, ids: I64) -> tuple[I64, I64]:
    """Carried remainder of each subscription's last issued bill, and its average daily kWh (×1000, -1 none)."""
    cols = fetch_columns(
        session,
        f"SELECT subscription_id, cycle, kwh, days, carry_out FROM bill b WHERE {ISSUED_BILLS_SQL} "
        f"AND cycle >= {int(previous_cycle(cycle, HISTORY_CYCLES))} AND cycle < {int(cycle)} "
        "ORDER BY subscription_id, cycle",
    )
    carry = np.zeros(len(ids), dtype=np.int64)
    daily = np.full(len(ids), -1, dtype=np.int64)
    if not cols[0]:
        return carry, daily
    sub, kwh, days, carry_out = (np.array(cols[c], dtype=np.int64) for c in (0, 2, 3, 4))
    starts = np.flatnonzero(np.r_[True, sub[1:] != sub[:-1]])
    last = np.r_[starts[1:] - 1, len(sub) - 1]
    uniq = sub[starts]
    kwh_sum = np.add.reduceat(kwh, starts)
    day_sum = np.add.reduceat(days, starts)
    pos = np.searchsorted(uniq, ids)
    pos_ok = (pos < len(uniq)) & (uniq[np.minimum(pos, len(uniq) - 1)] == ids)
    p = pos[pos_ok]
    carry[pos_ok] = carry_out[last[p]]
    daily[pos_ok] = np.where(day_sum[p] > 0, kwh_sum[p] * 1000 // np.maximum(day_sum[p], 1), -1)
    return carry, daily


def rate_bill_run(
    factory: sessionmaker[Session],
    *,
    run_id: int,
    library: TariffLibrary,
    clock: Clock,
    reads: ReadSource | None = None,
    chunk_size: int = CHUNK,
    progress: Callable[[int, int], None] | None = None,
    after_chunk: Callable[[int], None] | None = None,
) -> BillRun:
    """Price every due subscription of the run, committing chunk by chunk; safe to call again after a crash."""
    reads = reads or TableReadSource()
    with factory() as session:
        run = session.get(BillRun, run_id)
        if run is None:
            raise NotFound("اجرای صورتحساب پیدا نشد")
        if run.state != "rating":
            raise InvalidTransition("این اجرا پیش‌تر محاسبه شده است", detail=f"run {run_id} is {run.state}")
        start, end = cycle_window(run.cycle)
        due = _due_subscriptions(session, run)
        found = reads.consumption(session, start=start, end=end)
        carry, daily = _history(session, run.cycle, due.ids)
        if run.due_count == 0:
            run.due_count = len(due.ids)
            session.commit()
        done_before = run.rated_count + run.exception_count
        total = max(run.due_count, done_before + len(due.ids))
        opts = run.options
        cycle, run_key = run.cycle, run.id

    pos = np.searchsorted(found.subscription_id, due.ids)
    has = (
        (pos < len(found)) & (found.subscription_id[np.minimum(pos, max(len(found) - 1, 0))] == due.ids)
        if len(found)
        else np.zeros(len(due.ids), dtype=bool)
    )
    # Pricing (numpy, this thread) overlaps with writing the previous chunk (a writer thread: the database
    # driver releases the GIL while it inserts), so the two cores work at once.
    writer = _ChunkWriter(factory, run_key=run_key, cycle=cycle, done=done_before, total=total, progress=progress)
    queued = done_before
    try:
        for lo in range(0, len(due.ids), chunk_size):
            idx = np.arange(lo, min(lo + chunk_size, len(due.ids)))
            priced = _price_chunk(
                cycle=cycle,
                due=due.take(idx),
                has=has[idx],
                read_pos=pos[idx],
                found=found,
                carry=carry[idx],
                daily=daily[idx],
                library=library,
                opts=opts,
            )
            writer.put(priced)
            queued += priced.subscriptions
            if after_chunk:
                after_chunk(queued)
    finally:
        writer.close()
    with factory() as session, session.begin():
        run = session.get_one(BillRun, run_id)
        run.state = "review"
        run.rated_at = clock.now()
    with factory() as session:
        return session.get_one(BillRun, run_id)


def _lock(session: Session) -> None:
    """One writer of bill ids at a time (PostgreSQL); SQLite serialises writers itself."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(8472001)"))


def _price_chunk(
    *,
    cycle: int,
    due: _Due,
    has: NDArray[np.bool_],
    read_pos: I64,
    found: ReadColumns,
    carry: I64,
    daily: I64,
    library: TariffLibrary,
    opts: dict[str, Any],
) -> _Priced:
    """Price one chunk: everything but the database, so it can run while the previous chunk is written."""
    no_bill = [(sid, "no_read", "قرائت معتبری در این دوره ثبت نشده است") for sid in due.ids[~has].tolist()]
    billed = due.take(np.flatnonzero(has))
    rp = read_pos[has]
    carry_b = carry[has]
    daily_b = daily[has]
    prev_d = found.prev_date[rp]
    cur_d = found.cur_date[rp]
    kwh = found.kwh[rp]
    medical = (billed.medical_from <= cur_d) & (cur_d <= billed.medical_to)
    # Demand sub-codes always carry their demand readings (a missing maximeter reads as 0, so the minimum
    # share of the contract demand applies). Reads hold real kWh (register difference × multiplier).
    demand_subs = np.array([c in demand_codes(library) for c in billed.sub_codes], dtype=bool)
    is_demand = demand_subs[billed.sub_code] if len(billed.sub_codes) else np.zeros(len(billed.ids), dtype=bool)
    demand = {
        int(i): DemandInput(
            contract_kw=int(billed.contract_kw[i]),
            maximeter_kw=_dec(max(found.maximeter_kw[rp[i]], 0)),
            reactive_kvarh=int(max(found.reactive[rp[i]], 0)),
        )
        for i in np.flatnonzero(is_demand | (found.maximeter_kw[rp] >= 0))
    }
    cols = RatingColumns(
        group=billed.group,
        sub_code=billed.sub_code,
        zone=billed.zone,
        prev_date=prev_d,
        cur_date=cur_d,
        kwh=kwh,
        sub_codes=billed.sub_codes,
        zones=billed.zones,
        peak_kwh=found.peak_kwh[rp],
        offpeak_kwh=found.offpeak_kwh[rp],
        households=billed.households,
        medical=medical,
        carry_in=carry_b,
        estimated=found.estimated[rp],
        demand=demand or None,
    )
    try:
        result = rate_bills(library, cols)
        ok = np.ones(len(billed.ids), dtype=bool)
    except ValidationError:
        result, ok = _rate_row_by_row(library, cols)
        for i in np.flatnonzero(~ok).tolist():
            no_bill.append((int(billed.ids[i]), "rating_error", "داده‌های این اشتراک قیمت‌گذاری‌شدنی نیست"))
    year, month = divmod(cycle, 100)
    pids = payment_ids(billed.bill_id, np.where(ok, result.payable, 0), year=year, period=month)
    days = (cur_d - prev_d).astype(np.int64)
    # exceptions that still produce a bill (the reviewer may hold it)
    kind = np.full(len(billed.ids), "", dtype=object)
    per_day = kwh * 1000 // np.maximum(days, 1)
    kind[(daily_b > 0) & (per_day < daily_b * opts["low_factor"])] = "low"
    kind[(daily_b > 0) & (per_day > daily_b * opts["high_factor"])] = "high"
    kind[(kwh == 0) & billed.active] = "zero"
    kind[result.total + carry_b < 0] = "negative"
    kind[found.estimated[rp]] = "estimated"
    sel = np.flatnonzero(ok)
    kind = kind[sel]
    # Lines of the rated bills, bill by bill, without the carried remainders (bill columns) and, for a bill
    # priced in one part, without its four add-on lines: bill_lines() makes them again from the versioned
    # book, the days and the energy lines, exactly as the engine did. That halves the rows a run writes.
    split = np.zeros(len(billed.ids), dtype=bool)
    split[result.line_bill[result.line_part > 0]] = True
    order = result.bill_order()
    codes = result.line_code[order]
    order = order[
        ok[result.line_bill[order]]
        & ~_CARRY_CODE_MASK[codes]
        & ~(_ADDON_CODE_MASK[codes] & ~split[result.line_bill[order]])
    ]
    rank = np.cumsum(ok) - 1  # row → position among the rated bills
    lb = rank[result.line_bill[order]]
    counts = np.bincount(lb, minlength=len(sel))
    peak = found.peak_kwh[rp][sel]
    off = found.offpeak_kwh[rp][sel]
    return _Priced(
        subscriptions=len(due.ids),
        no_bill=no_bill,
        flagged=[(int(i), str(kind[i])) for i in np.flatnonzero(kind != "")],
        payable_total=int(result.payable[sel].sum()),
        bill_columns=[
            billed.ids[sel].tolist(),
            _iso(prev_d[sel]),
            _iso(cur_d[sel]),
            days[sel].tolist(),
            kwh[sel].tolist(),
            [None if v < 0 else v for v in peak.tolist()],
            [None if v < 0 else v for v in off.tolist()],
            found.estimated[rp][sel].tolist(),
            result.total[sel].tolist(),
            carry_b[sel].tolist(),
            result.payable[sel].tolist(),
            result.carry[sel].tolist(),
            [str(p) if p else None for p in pids[sel].tolist()],
            [k or None for k in kind.tolist()],
            *_line_sums(result, _TAX_CODES, len(billed.ids), sel),
        ],
        first_line=(np.cumsum(counts) - counts).astype(np.int64),
        line_count=counts.tolist(),
        line_bill=lb.astype(np.int64),
        line_columns=[
            billed.ids[sel][lb].tolist(),
            result.line_seq[order].tolist(),
            _CODES[result.line_code[order]].tolist(),
            result.line_part[order].tolist(),
            np.array(result.versions, dtype=object)[result.line_version[order]].tolist(),
            result.line_quantity_milli[order].tolist(),
            result.line_rate_milli[order].tolist(),
            result.line_amount[order].tolist(),
        ],
    )


@dataclass
class _Priced:
    """A priced chunk, as columns ready for the database; bill and line ids are added when it is written."""

    subscriptions: int
    no_bill: list[tuple[int, str, str]]
    flagged: list[tuple[int, str]]  # (position among the bills, kind)
    payable_total: int
    bill_columns: list[list[Any]]  # subscription … exception, as in _BILL_COLUMNS after id, run_id, cycle, state
    first_line: I64  # first line of each bill, counted from the chunk's first line
    line_count: list[int]
    line_bill: I64  # position of each line's bill among the chunk's bills
    line_columns: list[list[Any]]  # subscription_id … amount, as in _LINE_COLUMNS after id, bill_id


def _store_chunk(session: Session, priced: _Priced, *, run_key: int, cycle: int) -> None:
    """Write a priced chunk and the run's counters in the session's transaction."""
    n_bills = len(priced.line_count)
    bill_base = (session.scalar(select(func.max(Bill.id))) or 0) + 1
    line_base = (session.scalar(select(func.max(BillLine.id))) or 0) + 1
    n_lines = len(priced.line_bill)
    bill_rows = list(
        zip(
            range(bill_base, bill_base + n_bills),
            [run_key] * n_bills,
            priced.bill_columns[0],
            [cycle] * n_bills,
            ["rated"] * n_bills,
            *priced.bill_columns[1:],
            (line_base + priced.first_line).tolist(),
            priced.line_count,
            strict=True,
        )
    )
    line_rows = list(
        zip(
            range(line_base, line_base + n_lines),
            (bill_base + priced.line_bill).tolist(),
            *priced.line_columns,
            strict=True,
        )
    )
    bulk_insert(session, "bill", _BILL_COLUMNS, bill_rows)
    bulk_insert(session, "bill_line", _LINE_COLUMNS, line_rows)
    rows = [{"subscription_id": sid, "bill_id": None, "kind": k, "detail": d} for sid, k, d in priced.no_bill]
    rows += [
        {
            "subscription_id": priced.bill_columns[0][i],
            "bill_id": bill_base + i,
            "kind": k,
            "detail": EXCEPTION_KINDS[k],
        }
        for i, k in priced.flagged
    ]
    if rows:
        session.execute(insert(BillRunException), [{"run_id": run_key, **r} for r in rows])
    session.execute(
        update(BillRun)
        .where(BillRun.id == run_key)
        .values(
            rated_count=BillRun.rated_count + n_bills,
            exception_count=BillRun.exception_count + len(priced.no_bill),
            amount_total=BillRun.amount_total + priced.payable_total,
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT setval(pg_get_serial_sequence('bill', 'id'), (SELECT max(id) FROM bill))"))
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('bill_line', 'id'), (SELECT max(id) FROM bill_line))")
        )


class _ChunkWriter:
    """Writes priced chunks in a thread, one transaction each, in order; the first failure stops it and is
    raised in the caller's thread."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        run_key: int,
        cycle: int,
        done: int,
        total: int,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.factory, self.run_key, self.cycle = factory, run_key, cycle
        self.done, self.total, self.progress = done, total, progress
        self.error: BaseException | None = None
        self.queue: queue.Queue[_Priced | None] = queue.Queue(maxsize=1)
        self.thread = threading.Thread(target=self._loop, name="bill-run-writer", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (priced := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                with self.factory() as session, session.begin():
                    _lock(session)
                    _store_chunk(session, priced, run_key=self.run_key, cycle=self.cycle)
            except BaseException as exc:
                self.error = exc
                continue
            self.done += priced.subscriptions
            if self.progress:
                self.progress(self.done, self.total)

    def put(self, priced: _Priced) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(priced)

    def close(self) -> None:
        """Write what is queued, stop the thread, and raise its error if it had one."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def demand_codes(library: TariffLibrary) -> frozenset[str]:
    """Sub-codes that any book prices as demand customers."""
    return frozenset(
        code for book in library.books for g in book.groups.values() for code, sc in g.sub_codes.items() if sc.demand
    )


def _dec(v: np.int64 | int) -> Decimal:
    return Decimal(int(v))


def _rate_row_by_row(library: TariffLibrary, cols: RatingColumns) -> tuple[VectorResult, NDArray[np.bool_]]:
    """Find the rows the engine refuses; rate the others. Rare, so simple."""
    n = len(cols)
    ok = np.ones(n, dtype=bool)
    for i in range(n):
        try:
            rate_bills(library, _row(cols, np.array([i])))
        except ValidationError:
            ok[i] = False
    good = np.flatnonzero(ok)
    partial = rate_bills(library, _row(cols, good))
    # map back to full length: rows that failed get zero totals and no lines
    total = np.zeros(n, dtype=np.int64)
    payable = np.zeros(n, dtype=np.int64)
    carry = np.zeros(n, dtype=np.int64)
    total[good], payable[good], carry[good] = partial.total, partial.payable, partial.carry
    full = VectorResult(
        versions=partial.versions,
        total=total,
        payable=payable,
        carry=carry,
        line_bill=good[partial.line_bill],
        line_seq=partial.line_seq,
        line_code=partial.line_code,
        line_part=partial.line_part,
        line_version=partial.line_version,
        line_quantity_milli=partial.line_quantity_milli,
        line_rate_milli=partial.line_rate_milli,
        line_amount=partial.line_amount,
        fallback=partial.fallback,
    )
    return full, ok


def _row(cols: RatingColumns, idx: I64) -> RatingColumns:
    def pick(a: Any) -> Any:
        return None if a is None else a[idx]

    demand = None
    if cols.demand:
        remap = {int(old): new for new, old in enumerate(idx.tolist())}
        demand = {remap[k]: v for k, v in cols.demand.items() if k in remap} or None
    return RatingColumns(
        group=cols.group[idx],
        sub_code=cols.sub_code[idx],
        zone=cols.zone[idx],
        prev_date=cols.prev_date[idx],
        cur_date=cols.cur_date[idx],
        kwh=cols.kwh[idx],
        sub_codes=cols.sub_codes,
        zones=cols.zones,
        peak_kwh=pick(cols.peak_kwh),
        offpeak_kwh=pick(cols.offpeak_kwh),
        households=pick(cols.households),
        medical=pick(cols.medical),
        carry_in=pick(cols.carry_in),
        estimated=pick(cols.estimated),
        demand=demand,
    )


_CODES = np.array(LINE_CODES, dtype=object)
_CARRY_CODE_MASK = np.isin(_CODES, ["carry_in", "carry_out"])
_ADDON_CODES = ("fixed_charge", "levy", "vat", "insurance")
_ADDON_CODE_MASK = np.isin(_CODES, _ADDON_CODES)
_TAX_CODES = ("levy", "vat", "insurance")


def _line_sums(result: VectorResult, codes: Sequence[str], n: int, sel: I64) -> list[list[int]]:
    """For each code, every selected bill's sum of its lines with that code."""
    out = []
    for code in codes:
        mask = result.line_code == CODE_INDEX[code]
        sums = np.zeros(n, dtype=np.int64)
        np.add.at(sums, result.line_bill[mask], result.line_amount[mask])
        out.append(sums[sel].tolist())
    return out


def _iso(days: NDArray[np.datetime64]) -> list[str]:
    """ISO dates as strings, formatting each distinct date once (a run has few)."""
    unique, inverse = np.unique(days, return_inverse=True)
    return np.array(np.datetime_as_string(unique), dtype=object)[inverse].tolist()  # type: ignore[no-any-return]


_BILL_COLUMNS = (
    "id",
    "run_id",
    "subscription_id",
    "cycle",
    "state",
    "prev_read_on",
    "cur_read_on",
    "days",
    "kwh",
    "peak_kwh",
    "offpeak_kwh",
    "estimated",
    "total",
    "carry_in",
    "payable",
    "carry_out",
    "payment_id",
    "exception",
    "levy",
    "vat",
    "insurance",
    "first_line_id",
    "line_count",
)
_LINE_COLUMNS = (
    "id",
    "bill_id",
    "subscription_id",
    "seq",
    "code",
    "part",
    "version",
    "quantity_milli",
    "rate_milli",
    "amount",
)


# ------------------------------------------------------------------------------------------ review


def hold_bill(session: Session, *, principal: Principal, clock: Clock, bill_id: int, hold: bool = True) -> Bill:
    """Keep a draft bill out of the run's approval (it is withdrawn and billed again in a later run)."""
    principal.require(P.BILLING_RUN)
    bill = session.get(Bill, bill_id)
    if bill is None:
        raise NotFound("صورتحساب پیدا نشد")
    run = session.get_one(BillRun, bill.run_id)
    expected = "rated" if hold else "held"
    if bill.state != expected or run.state != "review":
        raise InvalidTransition("فقط صورتحساب پیش‌نویسِ اجرای در بازبینی را می‌توان نگه داشت یا آزاد کرد")
    before = bill.state
    bill.state = "held" if hold else "rated"
    audit.record(
        session,
        actor=principal.username,
        action="bill.hold" if hold else "bill.release",
        subject_type="bill",
        subject_id=bill.id,
        at=clock.now(),
        before={"state": before},
        after={"state": bill.state},
    )
    session.flush()
    return bill


def approve_bill_run(session: Session, *, principal: Principal, clock: Clock, run_id: int) -> BillRun:
    """Issue the run: its rated bills are issued (due date = issue date + the run's due days) by writing the
    run, not a million bill rows; held bills are withdrawn so that a later run of the same cycle bills them."""
    principal.require(P.BILLING_APPROVE)
    run = session.get(BillRun, run_id, with_for_update=True)
    if run is None:
        raise NotFound("اجرای صورتحساب پیدا نشد")
    if run.state != "review":
        raise InvalidTransition(
            f"اجرا در وضعیت «{RUN_STATE_NAMES[run.state]}» است و تأیید نمی‌شود", detail=f"run is {run.state}"
        )
    today = clock.today()
    due = today + timedelta(days=int(run.options.get("due_days", 10)))
    held = select(Bill.id).where(Bill.cycle == run.cycle, Bill.run_id == run.id, Bill.state == "held")
    session.execute(
        update(BillRunException).where(BillRunException.bill_id.in_(held)).values(bill_id=None, resolution="withdrawn")
    )
    _delete_lines(session, held)
    in_run = (Bill.cycle == run.cycle) & (Bill.run_id == run.id)
    withdrawn = _rowcount(session.execute(delete(Bill).where(in_run, Bill.state == "held")))
    issued = session.scalar(select(func.count()).select_from(Bill).where(in_run, Bill.state == "rated")) or 0
    run.issued_count = issued
    run.issued_on, run.due_on = today, due
    total = session.scalar(select(func.coalesce(func.sum(Bill.payable), 0)).where(in_run, Bill.state == "rated"))
    run.amount_total = int(total or 0)
    run.state = "issued"
    run.approved_by = principal.username
    run.issued_at = clock.now()
    post_run_bills(
        session, run_id=run.id, cycle=run.cycle, on=today, due=due, actor=principal.username, at=run.issued_at
    )
    audit.record(
        session,
        actor=principal.username,
        action="bill_run.approve",
        subject_type="bill_run",
        subject_id=run.id,
        at=clock.now(),
        after={"issued": issued, "withdrawn": withdrawn, "due_on": due.isoformat()},
    )
    session.flush()
    return run


def cancel_bill_run(session: Session, *, principal: Principal, clock: Clock, run_id: int) -> BillRun:
    """Throw away a run that is not issued: its draft bills and lines go, nothing was ever issued."""
    principal.require(P.BILLING_RUN)
    run = session.get(BillRun, run_id)
    if run is None:
        raise NotFound("اجرای صورتحساب پیدا نشد")
    if run.state not in ("review", "rating"):
        raise InvalidTransition("اجرای صادرشده ابطال‌شدنی نیست")
    bills = select(Bill.id).where(Bill.cycle == run.cycle, Bill.run_id == run.id)
    session.execute(delete(BillRunException).where(BillRunException.run_id == run.id))
    _delete_lines(session, bills)
    session.execute(delete(Bill).where(Bill.cycle == run.cycle, Bill.run_id == run.id))
    run.state = "cancelled"
    audit.record(
        session,
        actor=principal.username,
        action="bill_run.cancel",
        subject_type="bill_run",
        subject_id=run.id,
        at=clock.now(),
    )
    session.flush()
    return run


def _delete_lines(session: Session, bill_ids: Any) -> None:
    """Delete the lines of the bills selected by ``bill_ids`` (a select of ids), by their id ranges."""
    ranges = [
        {"lo": lo, "hi": lo + n - 1}
        for lo, n in session.execute(select(Bill.first_line_id, Bill.line_count).where(Bill.id.in_(bill_ids)))
        if n
    ]
    if ranges:
        session.execute(text("DELETE FROM bill_line WHERE id BETWEEN :lo AND :hi"), ranges)


def bill_lines(
    session: Session, bills: Sequence[Bill], library: TariffLibrary | None = None
) -> dict[int, list[BillLine]]:
    """Each bill's lines in the engine's order: the stored lines; for a bill priced in one part, its add-on
    lines made again from the book version in force (they are not stored, see ``_price_chunk``); and the
    carried remainders, which are bill columns."""
    library = library or load_default_library()
    out: dict[int, list[BillLine]] = {b.id: [] for b in bills}
    for start in range(0, len(bills), 200):
        chunk = [b for b in bills[start : start + 200] if b.line_count]
        if not chunk:
            continue
        ranges = [BillLine.id.between(b.first_line_id, b.first_line_id + b.line_count - 1) for b in chunk]
        for line in session.scalars(select(BillLine).where(or_(*ranges))):
            out[line.bill_id].append(line)
    for b in bills:
        lines = sorted(out[b.id], key=lambda ln: ln.seq)
        if not any(ln.code == "fixed_charge" for ln in lines):
            book = library.version_for(b.prev_read_on)
            energy = sum(ln.amount for ln in lines)
            for made in addon_lines(book, b.days, energy, 0):
                lines.append(
                    _transient(b, len(lines), made.code, 0, made.version, made.quantity, made.rate, made.amount)
                )
        version, part = (lines[-1].version, lines[-1].part) if lines else ("", 0)
        for code, amount in (("carry_in", b.carry_in), ("carry_out", -b.carry_out)):
            if amount:
                lines.append(_transient(b, len(lines), code, part, version, Decimal(1), Decimal(amount), amount))
        out[b.id] = lines
    return out


def _transient(
    bill: Bill, seq: int, code: str, part: int, version: str, quantity: Decimal, rate: Decimal, amount: int
) -> BillLine:
    """A line shown on a bill but not stored (never added to the session)."""
    return BillLine(
        id=0,
        bill_id=bill.id,
        subscription_id=bill.subscription_id,
        seq=seq,
        code=code,
        part=part,
        version=version,
        quantity_milli=int(quantity * 1000),
        rate_milli=int(rate * 1000),
        amount=amount,
    )


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
