"""Bank files through a page: upload (checked whole in the request; a refused file lists its bad rows), then
posting in a background thread with a progress bar; the same file again posts nothing, and a stopped
posting is finished by uploading the same file again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from barq import jobs
from barq.auth import permissions as P
from barq.errors import NotFound, ValidationError
from barq.payments.channels import banks, channels
from barq.payments.files import BankFileRefused, open_bank_file, post_bank_file
from barq.payments.models import Payment, PaymentBatch
from barq.payments.service import SUSPENSE_REASON_FA
from barq.reports.listing import paginate
from barq.web.deps import Page, PageDep, check_csrf

router = APIRouter(include_in_schema=False)
MAX_UPLOAD_BYTES = 200_000_000
STATE_FA = {"posting": "در حال ثبت", "posted": "ثبت شده"}


def _job_key(batch_id: int) -> str:
    return f"bank-file-{batch_id}"


def _form(
    page: Page,
    p: int = 1,
    *,
    errors: dict[str, str] | None = None,
    refused: BankFileRefused | None = None,
    bank: str = "",
    status: int = 200,
) -> HTMLResponse:
    listing = paginate(
        page.db, select(PaymentBatch).order_by(PaymentBatch.id.desc()), page=p, size=page.settings.page_size
    )
    return page.render(
        "bankfiles/index.html",
        status_code=status,
        listing=listing,
        banks=banks(),
        names={c.code: c.name_fa for c in channels().values()},
        states=STATE_FA,
        errors=errors or {},
        refused=refused,
        bank=bank,
        params={},
    )


@router.get("/payments/files", response_class=HTMLResponse)
def index(page: PageDep, p: int = 1) -> Response:
    page.principal.require(P.PAYMENTS_RECEIVE)
    return _form(page, p)


@router.post("/payments/files", response_class=HTMLResponse)
async def upload(page: PageDep) -> Response:
    page.principal.require(P.PAYMENTS_RECEIVE)
    form = await page.request.form()
    check_csrf(page.principal, form)
    bank = str(form.get("bank") or "")
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return _form(page, errors={"file": "پرونده‌ای انتخاب نشده است"}, bank=bank, status=422)
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        message = "پرونده بزرگ‌تر از ۲۰۰ مگابایت است؛ آن را با فرمان barq post-payments بفرستید"
        return _form(page, errors={"file": message}, bank=bank, status=422)
    app = page.request.app
    try:
        opened = open_bank_file(
            app.state.sessionmaker,
            principal=page.principal,
            clock=page.clock,
            bank=bank,
            data=data,
            filename=file.filename,
        )
    except BankFileRefused as exc:
        return _form(page, refused=exc, bank=bank, status=422)
    except ValidationError as exc:
        return _form(page, errors={exc.field or "file": exc.message_fa}, bank=bank, status=422)
    if opened.parsed is None:
        return RedirectResponse(f"/payments/files/{opened.batch_id}?already=1", status_code=303)
    principal, clock = page.principal, page.clock
    jobs.start(
        _job_key(opened.batch_id),
        lambda: post_bank_file(app.state.sessionmaker, principal=principal, clock=clock, opened=opened),
    )
    return RedirectResponse(f"/payments/files/{opened.batch_id}", status_code=303)


def _batch(page: Page, batch_id: int) -> PaymentBatch:
    page.principal.require(P.PAYMENTS_RECEIVE)
    batch = page.db.get(PaymentBatch, batch_id)
    if batch is None:
        raise NotFound("فایل بانک پیدا نشد")
    return batch


def _progress_context(batch: PaymentBatch) -> dict[str, Any]:
    done = batch.rows_posted + batch.rows_suspense
    total = max(batch.rows_total - batch.rows_duplicate, 1) if batch.state == "posted" else max(batch.rows_total, 1)
    percent = 100 if batch.state == "posted" else min(99, done * 100 // total)
    return {
        "batch": batch,
        "running": jobs.is_running(_job_key(batch.id)),
        "states": STATE_FA,
        "done": done,
        "percent": percent,
    }


@router.get("/payments/files/{batch_id}", response_class=HTMLResponse)
def batch_page(page: PageDep, batch_id: int, already: int = 0) -> Response:
    batch = _batch(page, batch_id)
    suspended = page.db.scalars(
        select(Payment)
        .where(Payment.batch_id == batch.id, Payment.status == "suspense")
        .order_by(Payment.id)
        .limit(200)
    ).all()
    return page.render(
        "bankfiles/batch.html",
        already=bool(already),
        suspended=suspended,
        reasons=SUSPENSE_REASON_FA,
        names={c.code: c.name_fa for c in channels().values()},
        **_progress_context(batch),
    )


@router.get("/payments/files/{batch_id}/progress", response_class=HTMLResponse)
def batch_progress(page: PageDep, batch_id: int) -> Response:
    return page.render("bankfiles/progress.html", **_progress_context(_batch(page, batch_id)))
