"""Receivables pages (docs/receivables.md): the dashboard by district with aging and the collection rate
(two charts), debt by organisation with government and non-government totals, and a subscription's
statement. Each page exports to Excel with ``?format=xlsx``."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from math import floor
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from barq.auth import permissions as P
from barq.billing.documents import fa_amount
from barq.calendar import fa_digits, fa_number, format_jalali
from barq.customers.service import ORG_CATEGORIES
from barq.errors import ValidationError
from barq.ledger.postings import CUSTOMER_CREDIT
from barq.network.service import district_names
from barq.reports.excel import sheets_to_xlsx
from barq.reports.receivables import (
    BUCKETS,
    Buckets,
    Dashboard,
    DebtorClass,
    DistrictLine,
    OrganisationDebt,
    organisation_export,
    organisation_report,
    receivables_dashboard,
    subscription_statement,
)
from barq.web.deps import PageDep, district_filter, xlsx_download

router = APIRouter(include_in_schema=False)

BUCKET_TITLES = [b.label_fa for b in BUCKETS]
KINDS = {"": "همه", "government": "دولتی", "non_government": "غیردولتی"}
SORT_NAMES = {"debt": "بیشترین بدهی", "debt_asc": "کمترین بدهی", "name": "نام"}
DOC_NAMES = {"bill": "صورتحساب", "payment": "پرداخت", "fee": "هزینه", "credit": "بستانکاری"}


# ----------------------------------------------------------------------------------------------- helpers


def percent(value: Fraction | None) -> float | None:
    """A rate as a percent rounded to one decimal (halves away from zero), for Excel."""
    if value is None:
        return None
    tenths = floor(abs(value) * 1000 + Fraction(1, 2))
    return (tenths if value >= 0 else -tenths) / 10


def fa_percent(value: Fraction | None) -> str:
    """«۸۷٫۵٪»; «—» when there is no rate (nothing billed)."""
    if value is None:
        return "—"
    tenths = floor(abs(value) * 1000 + Fraction(1, 2))
    sign = "-" if value < 0 and tenths else ""
    return f"{sign}{fa_number(tenths // 10)}٫{fa_digits(tenths % 10)}٪"


def _ages(aging: Buckets) -> list[int]:
    return [aging[b] for b in BUCKETS]


def _common() -> dict[str, Any]:
    return {"buckets": BUCKETS, "amount": fa_amount, "pct": fa_percent}


# ----------------------------------------------------------------------------------------------- dashboard


def _dashboard_xlsx(board: Dashboard) -> bytes:
    headers = [
        "امور",
        "اشتراک",
        "اشتراک بدهکار",
        *(f"{t} (ریال)" for t in BUCKET_TITLES),
        "جمع بدهی (ریال)",
        "بستانکاری (ریال)",
        "صورتحساب ۱۲ ماه (ریال)",
        "وصول ۱۲ ماه (ریال)",
        "نرخ وصول ٪",
    ]

    def line(x: DistrictLine) -> list[Any]:
        return [
            x.name,
            x.subscriptions,
            x.debtors,
            *_ages(x.aging),
            x.owed,
            x.credit,
            x.billed,
            x.collected,
            percent(x.rate),
        ]

    months = [
        [x.name, m.label, m.cycle, m.billed, m.collected, percent(m.rate)]
        for x in [*board.lines, board.total]
        for m in x.months
    ]
    return sheets_to_xlsx(
        [
            ("سنی بدهی", headers, [line(x) for x in [*board.lines, board.total]]),
            ("نرخ وصول ماهانه", ["امور", "ماه", "دوره", "صورتحساب (ریال)", "وصول (ریال)", "نرخ وصول ٪"], months),
        ]
    )


def _two_lines(label: str) -> list[str]:
    words = label.split(" ")
    half = (len(words) + 1) // 2
    return [" ".join(words[:half]), " ".join(words[half:])]


def _charts(board: Dashboard) -> dict[str, Any]:
    """What the two charts draw: the aging of the lines shown, and billed, collected and the rate by month."""
    months = board.total.months
    return {
        # two-line labels («۱۸۱ تا» over «۳۶۵ روز», «آبان» over «۱۴۰۵») so that none is turned on its side
        "aging": {"labels": [_two_lines(t) for t in BUCKET_TITLES], "amounts": _ages(board.total.aging)},
        "months": {
            "labels": [_two_lines(m.label) for m in months],
            "billed": [m.billed for m in months],
            "collected": [m.collected for m in months],
            "rate": [percent(m.rate) for m in months],
        },
    }


@router.get("/receivables", response_class=HTMLResponse)
def dashboard(page: PageDep, district: str = "", format: str = "") -> Response:
    page.principal.require(P.LEDGER_VIEW)
    board = receivables_dashboard(
        page.db, principal=page.principal, clock=page.clock, district_id=district_filter(district)
    )
    names = district_names(page.db)
    if format == "xlsx":
        chosen = board.district_id if page.principal.district_id is None else None
        suffix = f"-{names[chosen]}" if chosen in names else ""
        stamp = format_jalali(board.today).replace("/", "-")
        return xlsx_download(
            _dashboard_xlsx(board), f"receivables-{board.today.isoformat()}.xlsx", f"مطالبات{suffix}-{stamp}.xlsx"
        )
    return page.render(
        "receivables/index.html",
        board=board,
        districts=names,
        district_fixed=page.principal.district_id is not None,
        params={"district": board.district_id or ""},
        charts=_charts(board),
        **_common(),
    )


# ----------------------------------------------------------------------------------------------- organisations


def _kind(raw: str) -> bool | None:
    if raw not in KINDS:
        raise ValidationError("نوع بدهکار نادرست است", field="kind")
    return {"": None, "government": True, "non_government": False}[raw]


def _organisations_xlsx(classes: Sequence[DebtorClass], items: Sequence[OrganisationDebt]) -> bytes:
    ages = [f"{t} (ریال)" for t in BUCKET_TITLES]
    summary = [[c.name, c.customers, c.subscriptions, c.debtors, c.owed, *_ages(c.aging)] for c in classes]
    rows = [
        [
            o.name,
            o.legal_id,
            "دولتی" if o.is_government else "غیردولتی",
            ORG_CATEGORIES.get(o.category or "", o.category or ""),
            o.subscriptions,
            o.debtors,
            o.owed,
            *_ages(o.aging),
        ]
        for o in items
    ]
    return sheets_to_xlsx(
        [
            ("دولتی و غیردولتی", ["گروه", "مشترک", "اشتراک", "اشتراک بدهکار", "بدهی (ریال)", *ages], summary),
            (
                "سازمان‌ها",
                ["سازمان", "شناسه ملی", "دولتی", "دسته", "اشتراک", "اشتراک بدهکار", "بدهی (ریال)", *ages],
                rows,
            ),
        ]
    )


@router.get("/receivables/organisations", response_class=HTMLResponse)
def organisations(
    page: PageDep, district: str = "", kind: str = "", owing: str = "", sort: str = "debt", p: int = 1, format: str = ""
) -> Response:
    page.principal.require(P.LEDGER_VIEW)
    government, chosen_sort = _kind(kind), sort or "debt"  # the service refuses an unknown sort
    args: dict[str, Any] = {
        "principal": page.principal,
        "clock": page.clock,
        "district_id": district_filter(district),
        "government": government,
        "owing_only": owing == "1",
        "sort": chosen_sort,
    }
    if format == "xlsx":
        classes, items = organisation_export(page.db, **args)
        return xlsx_download(
            _organisations_xlsx(classes, items),
            f"organisation-debt-{page.clock.today().isoformat()}.xlsx",
            f"بدهی-سازمان‌ها-{format_jalali(page.clock.today()).replace('/', '-')}.xlsx",
        )
    report = organisation_report(page.db, **args, page=p, size=page.settings.page_size)
    return page.render(
        "receivables/organisations.html",
        report=report,
        listing=report.page,
        districts=district_names(page.db),
        district_fixed=page.principal.district_id is not None,
        kinds=KINDS,
        sorts=SORT_NAMES,
        categories=ORG_CATEGORIES,
        params={
            "district": report.district_id if page.principal.district_id is None and report.district_id else "",
            "kind": kind,
            "owing": "1" if owing == "1" else "",
            "sort": chosen_sort if chosen_sort != "debt" else "",
        },
        **_common(),
    )


# ----------------------------------------------------------------------------------------------- statement


@router.get("/subscriptions/{subscription_id}/statement", response_class=HTMLResponse)
def statement_page(page: PageDep, subscription_id: int, format: str = "") -> Response:
    page.principal.require(P.LEDGER_VIEW)
    st = subscription_statement(page.db, principal=page.principal, clock=page.clock, subscription_id=subscription_id)
    if format == "xlsx":
        rows = [
            [
                format_jalali(r.posted_on),
                r.description,
                DOC_NAMES.get(r.doc_type or "", r.doc_type or ""),
                r.doc_id,
                format_jalali(r.due_on) if r.due_on else None,
                r.debit or None,
                r.credit or None,
                r.balance,
                r.open or None,
            ]
            for r in st.rows
        ]
        b = st.balances
        summary = [
            ["مانده بدهی", b.receivable],
            ["بستانکاری", b.credit],
            ["کسر هزار ریال (به صورتحساب بعد)", b.carry],
            ["خالص بدهی", b.net],
            *([t, v] for t, v in zip(BUCKET_TITLES, _ages(st.aging), strict=True)),
        ]
        data = sheets_to_xlsx(
            [
                (
                    "گردش حساب",
                    ["تاریخ", "شرح", "سند", "شماره سند", "سررسید", "بدهکار", "بستانکار", "مانده", "مانده باز"],
                    rows,
                ),
                ("مانده و سنی بدهی", ["شرح", "مبلغ (ریال)"], summary),
            ]
        )
        return xlsx_download(
            data, f"statement-{st.subscription_number}.xlsx", f"صورت‌حساب-اشتراک-{st.subscription_number}.xlsx"
        )
    return page.render(
        "receivables/statement.html",
        st=st,
        credit_account=CUSTOMER_CREDIT,
        docs=DOC_NAMES,
        **_common(),
    )
