"""Reads arriving through the office: upload of handheld files with the per-row report, the exception queue
with its counts and three actions, and the meter photos sent with reads."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from barq.auth import permissions as P
from barq.auth.models import User
from barq.auth.service import Principal
from barq.calendar import format_jalali, format_jalali_datetime
from barq.connections.models import Subscription
from barq.errors import NotFound, ValidationError
from barq.metering.models import READ_CODES, READ_SOURCES, MeterRead, ReadBatch, ReadPhoto
from barq.network.models import District, Route
from barq.reading.exceptions import ACTIONS, QueueFilter, queue_counts, queue_query, resolve
from barq.reading.incoming import parse_file, rows_in
from barq.reading.pipeline import REASON_TITLES_FA, ContextAhead, import_reads, imported_before
from barq.reports.excel import to_xlsx
from barq.reports.listing import EXPORT_LIMIT, export_rows, paginate
from barq.web.deps import Page, PageDep, check_csrf, xlsx_download

router = APIRouter(include_in_schema=False)
MAX_UPLOAD_BYTES = 200_000_000


def _batch_scope(principal: Principal) -> Any:
    """Office staff of a district see the batches their district's users sent; head office sees all."""
    if principal.district_id is None:
        return ReadBatch.id.is_not(None)
    return ReadBatch.created_by.in_(select(User.id).where(User.district_id == principal.district_id))


def _uploads(page: Page, p: int, errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    stmt = select(ReadBatch).where(_batch_scope(page.principal)).order_by(ReadBatch.id.desc())
    listing = paginate(page.db, stmt, page=p, size=page.settings.page_size)
    return page.render(
        "reading/uploads.html",
        status_code=status,
        listing=listing,
        errors=errors or {},
        sources=READ_SOURCES,
        params={},
    )


@router.get("/reading/uploads", response_class=HTMLResponse)
def uploads(page: PageDep, p: int = 1, format: str = "") -> Response:
    page.principal.require(P.READING_MANAGE)
    if format == "xlsx":
        stmt = select(ReadBatch).where(_batch_scope(page.principal)).order_by(ReadBatch.id.desc())
        rows = [
            (
                b.id,
                format_jalali_datetime(b.created_at),
                READ_SOURCES.get(b.source, b.source),
                b.filename or "",
                b.rows_total,
                b.rows_stored,
                b.rows_duplicate,
                b.rows_refused,
                b.rows_exception,
                b.rows_estimated,
            )
            for b in export_rows(page.db, stmt)
        ]
        header = ["شماره", "زمان", "منبع", "پرونده", "سطرها", "ثبت‌شده", "تکراری", "رد شده", "استثنا", "برآورد"]
        return _export("بارگذاری‌های قرائت", header, rows, "read-uploads.xlsx")
    return _uploads(page, p)


@router.post("/reading/uploads", response_class=HTMLResponse)
async def upload(page: PageDep) -> Response:
    page.principal.require(P.READING_MANAGE)
    form = await page.request.form()
    check_csrf(page.principal, form)
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return _uploads(page, 1, {"file": "پرونده‌ای انتخاب نشده است"}, 422)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return _uploads(
            page, 1, {"file": "پرونده بزرگ‌تر از ۲۰۰ مگابایت است؛ آن را با فرمان barq import-reads بفرستید"}, 422
        )
    digest = hashlib.sha256(data).hexdigest()
    earlier = imported_before(page.db, digest)
    if earlier is not None:
        return RedirectResponse(f"/reading/uploads/{earlier.id}?already=1", status_code=303)
    with ContextAhead(page.db, rows_in(data)) as ahead:  # a large file's context is read while it is parsed
        try:
            incoming = parse_file(data, tz=page.clock.tz, filename=file.filename)
        except ValidationError as exc:
            return _uploads(page, 1, {"file": exc.message_fa}, 422)
        result = import_reads(
            page.db,
            principal=page.principal,
            clock=page.clock,
            incoming=incoming,
            source="handheld",
            filename=file.filename[:200],
            digest=digest,
            ahead=ahead,
        )
    suffix = "?already=1" if result.already else ""
    return RedirectResponse(f"/reading/uploads/{result.batch.id}{suffix}", status_code=303)


def _batch(db: Session, principal: Principal, batch_id: int) -> ReadBatch:
    principal.require(P.READING_MANAGE)
    batch = db.scalar(select(ReadBatch).where(ReadBatch.id == batch_id, _batch_scope(principal)))
    if batch is None:
        raise NotFound("این بارگذاری پیدا نشد")
    return batch


@router.get("/reading/uploads/{batch_id}", response_class=HTMLResponse)
def batch_page(page: PageDep, batch_id: int, already: int = 0) -> Response:
    batch = _batch(page.db, page.principal, batch_id)
    rows = []
    if batch.errors_csv:
        lines = batch.errors_csv.splitlines()[1:201]
        rows = [line.split(",", 3) for line in lines]
    return page.render("reading/batch.html", batch=batch, rows=rows, already=bool(already), sources=READ_SOURCES)


@router.get("/reading/uploads/{batch_id}/errors.csv")
def batch_errors(page: PageDep, batch_id: int) -> Response:
    batch = _batch(page.db, page.principal, batch_id)
    return Response(
        ("\ufeff" + (batch.errors_csv or "line,subscription,field,reason\n")).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="read-errors-{batch.id}.csv"'},
    )


# ------------------------------------------------------------------------------------------ exceptions


def _int(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() else None


@router.get("/reading/exceptions", response_class=HTMLResponse)
def exceptions(
    page: PageDep,
    district: str = "",
    route: str = "",
    reader: str = "",
    reason: str = "",
    p: int = 1,
    format: str = "",
) -> Response:
    params = {"district": district, "route": route, "reader": reader, "reason": reason}
    if format == "xlsx":
        items = page.db.execute(queue_query(page.principal, _filter(params)).limit(EXPORT_LIMIT)).all()
        names = _reader_names(page.db, [r.reader_id for r, _s, _ro in items if r.reader_id])
        rows = [
            (
                s.subscription_number,
                ro.code if ro else "",
                s.route_sequence,
                format_jalali(r.read_on),
                READ_CODES.get(r.code, r.code),
                r.active,
                r.actual_kwh,
                format_jalali(r.prev_actual_on),
                REASON_TITLES_FA.get(r.reason or "", r.reason),
                names.get(r.reader_id or 0, ""),
            )
            for r, s, ro in items
        ]
        header = [
            "اشتراک",
            "مسیر",
            "ردیف",
            "تاریخ قرائت",
            "کد",
            "رقم",
            "مصرف (ک‌و‌س)",
            "قرائت واقعی قبلی",
            "علت",
            "مامور",
        ]
        return _export("استثناهای قرائت", header, rows, "read-exceptions.xlsx")
    return _queue(page, params, p)


def _filter(params: dict[str, str]) -> QueueFilter:
    return QueueFilter(
        district_id=_int(params["district"]),
        route_id=_int(params["route"]),
        reader_id=_int(params["reader"]),
        reason=params["reason"] if params["reason"] in REASON_TITLES_FA else None,
    )


def _reader_names(db: Session, ids: list[int]) -> dict[int, str]:
    return {u.id: u.full_name for u in db.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


def _queue(page: Page, params: dict[str, str], p: int, outcome: dict[str, Any] | None = None) -> HTMLResponse:
    flt = _filter(params)
    listing = paginate(page.db, queue_query(page.principal, flt), page=p, size=50, rows=True)
    counts = queue_counts(page.db, page.principal, flt)
    route_ids = [int(r) for r, _ in counts["route"] if r is not None]
    reader_ids = [int(r) for r, _ in counts["reader"] if r is not None] + [
        int(r.reader_id) for r, _s, _ro in listing.items if r.reader_id
    ]
    routes = {r.id: r for r in page.db.scalars(select(Route).where(Route.id.in_(route_ids)))}
    readers = _reader_names(page.db, reader_ids)
    districts = list(page.db.scalars(select(District).order_by(District.code)))
    if page.principal.district_id is not None:
        districts = [d for d in districts if d.id == page.principal.district_id]
    return page.render(
        "reading/exceptions.html",
        listing=listing,
        counts=counts,
        routes=routes,
        readers=readers,
        districts=districts,
        params=params,
        reasons=REASON_TITLES_FA,
        codes=READ_CODES,
        actions=ACTIONS,
        outcome=outcome,
    )


@router.post("/reading/exceptions", response_class=HTMLResponse)
async def resolve_exceptions(page: PageDep) -> Response:
    form = await page.request.form()
    check_csrf(page.principal, form)
    ids = [int(v) for v in form.getlist("read_id") if isinstance(v, str) and v.isdigit()]
    action = str(form.get("action") or "")
    params = {k: str(form.get(k) or "") for k in ("district", "route", "reader", "reason")}
    try:
        done = resolve(
            page.db,
            principal=page.principal,
            clock=page.clock,
            read_ids=ids,
            action=action,
            note=str(form.get("note") or "")[:200],
        )
    except ValidationError as exc:
        return _queue(page, params, 1, {"error": exc.message_fa})
    return _queue(page, params, 1, {"done": done.done, "action": ACTIONS[action], "refused": done.refused})


@router.get("/reading/photos/{photo_id}")
def photo(page: PageDep, photo_id: int) -> Response:
    if not (page.principal.can(P.READING_MANAGE) or page.principal.can(P.READING_VIEW)):
        page.principal.require(P.READING_MANAGE)
    stmt = (
        select(ReadPhoto)
        .join(MeterRead, MeterRead.photo_id == ReadPhoto.id)
        .join(Subscription, Subscription.id == MeterRead.subscription_id)
        .where(ReadPhoto.id == photo_id)
    )
    if page.principal.district_id is not None:
        stmt = stmt.where(Subscription.district_id == page.principal.district_id)
    found = page.db.scalars(stmt).first()
    if found is None:
        raise NotFound("عکس پیدا نشد")
    return Response(found.data, media_type=found.content_type, headers={"Cache-Control": "private, max-age=3600"})


def _export(title: str, header: list[str], rows: list[tuple[Any, ...]], filename: str) -> Response:
    return xlsx_download(to_xlsx(title, header, rows), filename)
