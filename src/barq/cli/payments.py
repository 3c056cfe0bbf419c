"""`barq post-payments FILE --bank CODE`: a bank file validated, matched and posted with a progress bar, and
`barq ledger verify`: every balance and the whole ledger proved from the postings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from barq.auth.service import SYSTEM, Principal, get_user, principal_for
from barq.clock import Clock
from barq.db import make_engine, make_sessionmaker, transaction
from barq.errors import BarqError
from barq.ledger.service import verify
from barq.payments.files import CHUNK, BankFileRefused, receive_bank_file
from barq.settings import get_settings

out = Console()
err = Console(stderr=True)
ledger_app = typer.Typer(help="The receivables ledger.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("post-payments")(post_payments_command)
    app.add_typer(ledger_app, name="ledger")


def post_payments_command(
    file: Annotated[Path, typer.Argument(help="The bank's CSV file (docs/bank-files.md)")],
    bank: Annotated[str, typer.Option(help="The bank's code, as in data/banks.toml")],
    user: Annotated[str | None, typer.Option("--as", help="Post as this user; default: system")] = None,
    chunk_size: Annotated[int, typer.Option(help="Payments per transaction", min=1)] = CHUNK,
) -> None:
    """Post a bank file exactly once: the same file again posts nothing, and a run that was stopped is finished
    by running the same file again."""
    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    clock = Clock(settings.time_zone)
    try:
        data = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]cannot read {file}: {exc.strerror}[/red]")
        raise typer.Exit(2) from exc
    try:
        principal: Principal = SYSTEM
        if user is not None:
            with transaction(factory) as session:
                found = get_user(session, user)
                if found is None or not found.is_active:
                    raise typer.BadParameter(f"no active user {user!r}")
                principal = principal_for(session, found)
        started = time.perf_counter()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=out) as progress:
            task = progress.add_task("checking and matching", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total, description="posting payments")

            result = receive_bank_file(
                factory,
                principal=principal,
                clock=clock,
                bank=bank,
                data=data,
                filename=file.name,
                progress=step,
                chunk_size=chunk_size,
            )
    except BankFileRefused as exc:
        err.print(f"[red]{exc.detail}[/red]")
        for row in exc.rows[:20]:
            err.print(f"  line {row.line}, {row.field}: {row.message_fa}")
        if exc.bad_rows > 20:
            err.print(f"  … and {exc.bad_rows - 20:,} more bad rows")
        raise typer.Exit(exc.exit_code) from exc
    except BarqError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(exc.exit_code) from exc
    if result.already:
        out.print(f"this file was posted before as batch {result.batch_id}; nothing was posted now")
        return
    out.print(
        f"batch {result.batch_id}: {result.rows_total:,} payments, {result.amount_total:,} rials — "
        f"{result.rows_posted:,} posted, {result.rows_suspense:,} to suspense, "
        f"{result.rows_duplicate:,} duplicates skipped ({time.perf_counter() - started:.1f} s)"
    )


@ledger_app.command("verify")
def verify_command(
    limit: Annotated[int, typer.Option(help="List at most this many differences of each kind")] = 20,
) -> None:
    """Prove the ledger from its postings: each entry sums to zero and is complete, the ledger sums to zero,
    and every stored balance equals its postings. Exits 1 and lists what differs otherwise."""
    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    started = time.perf_counter()
    with factory() as session:
        report = verify(session, limit=limit)
    seconds = time.perf_counter() - started
    out.print(
        f"{report.entries:,} entries, {report.postings:,} postings, {report.balances:,} balances checked "
        f"in {seconds:.1f} s"
    )
    if report.ok:
        out.print("[green]the ledger balances: every entry sums to zero and every balance equals its postings[/green]")
        return
    if report.ledger_total:
        err.print(f"[red]the whole ledger is off by {report.ledger_total:,} rials[/red]")
    for entry, off in report.unbalanced_entries:
        err.print(f"[red]entry {entry} does not balance: off by {off:,}[/red]")
    for entry in report.incomplete_entries:
        err.print(f"[red]entry {entry}: its postings differ from its recorded count or debit total[/red]")
    if report.orphan_postings:
        err.print(f"[red]{report.orphan_postings:,} postings belong to no entry[/red]")
    for sub, account, stored, total in report.balance_differences:
        err.print(f"[red]subscription {sub} {account}: stored {stored:,}, postings sum to {total:,}[/red]")
    raise typer.Exit(1)
