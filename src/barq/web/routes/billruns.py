"""Bill-run pages: start a run, watch its progress, review its exceptions, hold or release bills, approve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from barq import jobs
from barq.auth import permissions as P
from barq.billing.models import Bill, BillRun, BillRunException
from barq.billing.service import (
    EXCEPTION_KINDS,
    RUN_STATE_NAMES,
    approve_bill_run,
    cancel_bill_run,
    cycle_of,
    hold_bill,
    rate_bill_run,
    run_options,
    start_bill_run,
)
from barq.calendar import fa_number, jalali_month_name
from barq.connections.models import Subscription
from barq.errors import NotFound, ValidationError
from barq.ids import normalize_digits
from barq.inputs import Inputs
from barq.network.models import Route
from barq.network.service import district_names
from barq.rating.book import load_default_library
from barq.reports.listing import paginate
from barq.web.deps import Page, PageDep

router = APIRouter(include_in_schema=False)


def _job_key(run_id: int) -> str:
    return f"bill-run-{run_id}"


def _launch(request: Request, run_id: int) -> None:
    app = request.app
    jobs.start(
        _job_key(run_id),
        lambda: rate_bill_run(
            app.state.sessionmaker,
            run_id=run_id,
            library=load_default_library(),
            clock=app.state.clock,
            chunk_size=app.state.settings.bill_run_chunk,
        ),
    )


def _get_run(page: Page, run_id: int) -> BillRun:
    page.principal.require(P.BILLING_RUN)
    run = page.db.get(BillRun, run_id)
    if run is None or (page.principal.district_id is not None and run.district_ids != [page.principal.district_id]):
        raise NotFound("اجرای صورتحساب پیدا نشد")
    return run


def _cycles(page: Page) -> list[tuple[int, str]]:
    current = cycle_of(page.clock.today())
    out = []
    year, month = divmod(current, 100)
    for _ in range(6):
        out.append((year * 100 + month, f"{jalali_month_name(month)} {year}"))
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return out


@router.get("/bill-runs", response_class=HTMLResponse)
def run_list(page: PageDep, p: int = 1) -> Response:
    return _list(page, p, {}, {})


def _list(page: Page, p: int, values: dict[str, object], errors: dict[str, str], status: int = 200) -> HTMLResponse:
    page.principal.require(P.BILLING_RUN)
    stmt = select(BillRun).order_by(BillRun.id.desc())
    listing = paginate(page.db, stmt, page=p, size=page.settings.page_size)
    return page.render(
        "billruns/list.html",
        status_code=status,
        listing=listing,
        states=RUN_STATE_NAMES,
        cycles=_cycles(page),
        districts=district_names(page.db),
        values=values,
        errors=errors,
        params={},
    )


@router.post("/bill-runs", response_class=HTMLResponse)
async def run_start(page: PageDep, request: Request) -> Response:
    page.principal.require(P.BILLING_RUN)
    raw = await request.form()
    from barq.web.deps import check_csrf

    check_csrf(page.principal, raw)
    form = Inputs({k: v for k, v in raw.items() if isinstance(v, str)})
    cycle = form.integer("cycle", "دوره", min_value=130001, max_value=149912)
    known = district_names(page.db)
    district_ids = [int(v) for v in raw.getlist("district_ids") if isinstance(v, str) and v.isdigit()]
    if any(d not in known for d in district_ids):
        form.error("district_ids", "امور انتخاب‌شده وجود ندارد")
    route_ids: list[int] = []
    for code in (form.text("route_codes", "مسیرها", required=False, max_len=2000) or "").replace("،", ",").split(","):
        code = normalize_digits(code).strip().upper()
        if not code:
            continue
        in_scope = Route.code == code
        if page.principal.district_id is not None:
            in_scope &= Route.district_id == page.principal.district_id
        found = page.db.scalar(select(Route.id).where(in_scope).limit(1))
        if found is None:
            form.error("route_codes", f"مسیر «{code}» پیدا نشد")
        else:
            route_ids.append(found)
    try:
        form.done()
        assert cycle is not None
        run = start_bill_run(
            page.db,
            principal=page.principal,
            clock=page.clock,
            cycle=cycle,
            district_ids=district_ids,
            route_ids=route_ids,
            options=run_options(page.settings),
        )
    except ValidationError as exc:
        page.db.rollback()
        return _list(page, 1, dict(raw), exc.errors, status=422)
    page.db.commit()
    _launch(request, run.id)
    return RedirectResponse(f"/bill-runs/{run.id}", status_code=303)


def _progress_context(run: BillRun) -> dict[str, Any]:
    done = run.rated_count + run.exception_count
    percent = 100 if run.state != "rating" else (int(done * 100 / run.due_count) if run.due_count else 0)
    return {
        "run": run,
        "percent": percent,
        "done": done,
        "states": RUN_STATE_NAMES,
        "running": jobs.is_running(_job_key(run.id)),
    }


@router.get("/bill-runs/{run_id}", response_class=HTMLResponse)
def run_detail(page: PageDep, run_id: int, kind: str = "", p: int = 1, flash: str = "") -> Response:
    run = _get_run(page, run_id)
    stmt = (
        select(BillRunException, Subscription.subscription_number, Bill.state, Bill.payable, Bill.kwh)
        .join(Subscription, Subscription.id == BillRunException.subscription_id)
        .outerjoin(Bill, Bill.id == BillRunException.bill_id)
        .where(BillRunException.run_id == run.id)
        .order_by(BillRunException.id)
    )
    if kind in EXCEPTION_KINDS:
        stmt = stmt.where(BillRunException.kind == kind)
    total = page.db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    size = page.settings.page_size
    pages = max(1, -(-total // size))
    p = min(max(p, 1), pages)
    rows = page.db.execute(stmt.limit(size).offset((p - 1) * size)).all()
    counts = dict(
        page.db.execute(
            select(BillRunException.kind, func.count())
            .where(BillRunException.run_id == run.id)
            .group_by(BillRunException.kind)
        ).all()
    )
    routes: list[tuple[int, str]] = []
    if run.state == "issued":
        routes = [
            (rid, code)
            for rid, code in page.db.execute(
                select(Route.id, Route.code)
                .join(Subscription, Subscription.route_id == Route.id)
                .join(Bill, Bill.subscription_id == Subscription.id)
                .where(Bill.cycle == run.cycle, Bill.run_id == run.id)
                .group_by(Route.id, Route.code)
                .order_by(Route.code)
            )
        ]
    return page.render(
        "billruns/detail.html",
        routes=routes,
        rows=rows,
        kinds=EXCEPTION_KINDS,
        counts=counts,
        kind=kind,
        page=p,
        pages=pages,
        total=total,
        params={"kind": kind},
        districts=district_names(page.db),
        flash=_flash(flash),
        **_progress_context(run),
    )


def _flash(code: str) -> str | None:
    kind, _, number = code.partition("-")
    if kind == "issued" and number.isdigit():
        return f"{fa_number(int(number))} صورتحساب صادر شد."
    return None


@router.get("/bill-runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(page: PageDep, run_id: int) -> Response:
    run = _get_run(page, run_id)
    response = page.render("billruns/progress.html", **_progress_context(run))
    if run.state != "rating":
        response.headers["HX-Refresh"] = "true"  # the rating is over: show the exceptions
    return response


@router.post("/bill-runs/{run_id}/resume", response_class=HTMLResponse)
async def run_resume(page: PageDep, request: Request, run_id: int) -> Response:
    await page.form()
    run = _get_run(page, run_id)
    if run.state == "rating":
        _launch(request, run.id)
    return RedirectResponse(f"/bill-runs/{run_id}", status_code=303)


@router.post("/bill-runs/{run_id}/approve", response_class=HTMLResponse)
async def run_approve(page: PageDep, run_id: int) -> Response:
    await page.form()
    page.principal.require(P.BILLING_APPROVE)
    _get_run(page, run_id)
    run = approve_bill_run(page.db, principal=page.principal, clock=page.clock, run_id=run_id)
    return RedirectResponse(f"/bill-runs/{run_id}?flash=issued-{run.issued_count}", status_code=303)


@router.post("/bill-runs/{run_id}/cancel", response_class=HTMLResponse)
async def run_cancel(page: PageDep, run_id: int) -> Response:
    await page.form()
    _get_run(page, run_id)
    if jobs.is_running(_job_key(run_id)):
        raise ValidationError("اجرا هنوز در حال محاسبه است؛ پس از پایان آن را ابطال کنید")
    cancel_bill_run(page.db, principal=page.principal, clock=page.clock, run_id=run_id)
    return RedirectResponse(f"/bill-runs/{run_id}", status_code=303)


@router.post("/bill-runs/{run_id}/bills/{bill_id}/{action}", response_class=HTMLResponse)
async def bill_hold(page: PageDep, run_id: int, bill_id: int, action: str, kind: str = "", p: int = 1) -> Response:
    await page.form()
    _get_run(page, run_id)
    if action not in ("hold", "release"):
        raise NotFound("عمل ناشناخته")
    bill = page.db.get(Bill, bill_id)
    if bill is None or bill.run_id != run_id:
        raise NotFound("صورتحساب پیدا نشد")
    hold_bill(page.db, principal=page.principal, clock=page.clock, bill_id=bill_id, hold=action == "hold")
    return RedirectResponse(f"/bill-runs/{run_id}?kind={kind}&p={p}", status_code=303)
