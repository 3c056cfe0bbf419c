"""``barq tariff check FILE`` and ``barq tariff quote …``: tariff books from the command line.

``register(app)`` adds the ``tariff`` command group to the main typer app. Errors go to stderr with
the field and the problem, and exit with status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import jdatetime
import typer

from barq.errors import ValidationError
from barq.money import format_rial
from barq.rating.book import TariffBook, TariffLibrary, load_book, load_books, load_default_library
from barq.rating.engine import RatedBill
from barq.rating.quote import quote


def _fail(exc: ValidationError) -> typer.Exit:
    where = f"{exc.field}: " if exc.field else ""
    typer.echo(f"خطا: {where}{exc.message_fa}", err=True)
    return typer.Exit(code=1)


def _jalali(day: Any) -> str:
    j = jdatetime.date.fromgregorian(date=day)
    return f"{j.year:04d}/{j.month:02d}/{j.day:02d}"


def _summary(book: TariffBook, library: TariffLibrary | None = None) -> str:
    if library is not None:
        first, last = library.effective_range(book)
    else:
        first, last = book.effective_from, book.effective_to
    until = _jalali(last) if last is not None else "تا کتاب بعدی"
    tables = sum(len(g.tables) for g in book.groups.values())
    subs = sum(len(g.sub_codes) for g in book.groups.values())
    label = " (نمونه)" if book.example else ""
    return (
        f"کتاب تعرفه {book.version}{label}: {_jalali(first)} – {until}; "
        f"{len(book.groups)} گروه، {subs} زیرگروه، {tables} جدول، {len(book.zones)} منطقه "
        f"({', '.join(book.zones)})"
    )


def bill_json(bill: RatedBill) -> dict[str, Any]:
    """The quote as JSON: amounts as integers, quantity and rate as decimal strings."""
    return {
        "lines": [
            {
                "code": line.code,
                "title": line.title_fa,
                "quantity": str(line.quantity),
                "rate": str(line.rate),
                "amount": line.amount,
                "version": line.version,
            }
            for line in bill.lines
        ],
        "total": bill.total,
        "payable": bill.payable,
        "carry": bill.carry,
    }


def _bill_text(bill: RatedBill) -> str:
    rows = [f"{'کد':<24}{'مقدار':>14}{'نرخ':>14}{'مبلغ (ریال)':>16}  عنوان"]
    for line in bill.lines:
        rows.append(
            f"{line.code:<24}{line.quantity!s:>14}{line.rate!s:>14}{format_rial(line.amount):>16}"
            f"  {line.title_fa} [{line.version}]"
        )
    rows.append(f"جمع صورتحساب: {format_rial(bill.total)}")
    rows.append(f"مبلغ قابل پرداخت: {format_rial(bill.payable)}")
    rows.append(f"کسر هزار ریال (به دوره بعد): {format_rial(bill.carry)}")
    return "\n".join(rows)


def register(app: typer.Typer) -> None:
    """Add the ``tariff`` group (``check``, ``quote``) to ``app``, and ``quote`` at the top level too."""
    tariff = typer.Typer(help="Tariff books: check a book file, quote a bill.", no_args_is_help=True)

    @tariff.command("check")
    def check(
        file: Annotated[Path, typer.Argument(help="A tariff book (.toml) or a folder of books.")],
    ) -> None:
        """Validate a tariff book (or every book in a folder, with their dates)."""
        try:
            if file.is_dir():
                library = load_books(file)
                for book in library:
                    typer.echo(_summary(book, library))
            else:
                typer.echo(_summary(load_book(file)))
        except ValidationError as exc:
            raise _fail(exc) from None
        typer.echo("درست است")

    @tariff.command("quote")
    def quote_command(
        group: Annotated[str, typer.Option("--group", help="Tariff group (1–5) or a sub-code, e.g. 5-ب.")],
        zone: Annotated[str, typer.Option("--zone", help="Climate zone: normal, tropical1 … tropical4.")],
        from_date: Annotated[str, typer.Option("--from", help="Previous read date, Jalali YYYY/MM/DD.")],
        to_date: Annotated[str, typer.Option("--to", help="Current read date, Jalali YYYY/MM/DD.")],
        kwh: Annotated[int, typer.Option("--kwh", help="Total consumption, kWh.")],
        peak: Annotated[int | None, typer.Option("--peak", help="Peak-register kWh (TOU meter).")] = None,
        offpeak: Annotated[int | None, typer.Option("--offpeak", help="Off-peak-register kWh.")] = None,
        households: Annotated[int, typer.Option("--households", help="Households on the meter.")] = 1,
        medical: Annotated[bool, typer.Option("--medical", help="Valid medical certificate.")] = False,
        demand_kw: Annotated[int | None, typer.Option("--demand-kw", help="Demand, kW (demand tariffs).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
        books: Annotated[Path | None, typer.Option("--books", help="Folder of tariff books.")] = None,
    ) -> None:
        """Price a hypothetical consumption and print the bill's lines."""
        try:
            library = load_books(books) if books is not None else load_default_library()
            bill = quote(
                library,
                group=group,
                zone=zone,
                from_date=from_date,
                to_date=to_date,
                kwh=kwh,
                peak=peak,
                offpeak=offpeak,
                households=households,
                medical=medical,
                demand_kw=demand_kw,
            )
        except ValidationError as exc:
            raise _fail(exc) from None
        if as_json:
            typer.echo(json.dumps(bill_json(bill), ensure_ascii=False, indent=2))
        else:
            typer.echo(_bill_text(bill))

    app.add_typer(tariff, name="tariff")
    app.command("quote", help="Price a hypothetical consumption (the public bill calculator).")(quote_command)
