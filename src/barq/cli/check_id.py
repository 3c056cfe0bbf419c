"""``barq check-id KIND VALUE [--bill BILL_ID]``: say whether an identifier is valid, and why not."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from barq import ids
from barq.errors import ValidationError


class IdKind(StrEnum):
    NATIONAL_CODE = "national-code"
    LEGAL_ID = "legal-id"
    POSTAL_CODE = "postal-code"
    MOBILE = "mobile"
    BILL = "bill"
    PAYMENT = "payment"


_LABELS: dict[IdKind, str] = {
    IdKind.NATIONAL_CODE: "کد ملی",
    IdKind.LEGAL_ID: "شناسه ملی",
    IdKind.POSTAL_CODE: "کد پستی",
    IdKind.MOBILE: "شماره همراه",
    IdKind.BILL: "شناسه قبض",
    IdKind.PAYMENT: "شناسه پرداخت",
}


def _describe(kind: IdKind, value: str, bill: str | None) -> list[str]:
    """Validate ``value`` and return the lines to print; raises ValidationError when it is invalid."""
    if kind is IdKind.NATIONAL_CODE:
        return [f"مقدار: {ids.validate_national_code(value)}"]
    if kind is IdKind.LEGAL_ID:
        return [f"مقدار: {ids.validate_legal_id(value)}"]
    if kind is IdKind.POSTAL_CODE:
        return [f"مقدار: {ids.validate_postal_code(value)}"]
    if kind is IdKind.MOBILE:
        return [f"مقدار: {ids.validate_mobile(value)}"]
    if kind is IdKind.BILL:
        parts = ids.parse_bill_id(value)
        service = ids.SERVICE_TYPES.get(parts.service_type, "نامشخص")
        return [
            f"مقدار: {ids.validate_bill_id(value)}",
            f"شماره پرونده: {parts.file_number}",
            f"کد شرکت: {parts.company_code}",
            f"نوع خدمت: {parts.service_type} ({service})",
        ]
    assert bill is not None
    payment = ids.validate_payment_id(value, bill)
    decoded = ids.parse_payment_id(payment, bill)
    return [
        f"مقدار: {payment}",
        f"مبلغ: {decoded.amount:,} ریال",
        f"رقم سال: {decoded.year_digit}",
        f"دوره: {decoded.period:02d}",
        f"بارکد: {ids.bill_barcode(bill, payment)}",
    ]


def check_id(
    kind: Annotated[IdKind, typer.Argument(help="Kind of identifier.", case_sensitive=False)],
    value: Annotated[str, typer.Argument(help="The identifier; Persian digits and dashes are accepted.")],
    bill: Annotated[
        str | None, typer.Option("--bill", help="Bill ID the payment ID belongs to (required for payment).")
    ] = None,
) -> None:
    """Check an identifier: exit 0 when valid, 1 when not (the reason is printed in Persian)."""
    if kind is IdKind.PAYMENT and bill is None:
        raise typer.BadParameter("a payment ID is checked against its bill ID: give --bill", param_hint="--bill")
    label = _LABELS[kind]
    try:
        lines = _describe(kind, value, bill)
    except ValidationError as exc:
        typer.echo(f"{label} نامعتبر است: {exc.message_fa}")
        raise typer.Exit(code=1) from None
    typer.echo(f"{label} معتبر است.")
    for line in lines:
        typer.echo(line)


def register(app: typer.Typer) -> None:
    """Add the ``check-id`` command to ``app``."""
    app.command("check-id")(check_id)
