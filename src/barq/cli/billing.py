"""`barq bill-run`: price a cycle's subscriptions with a progress bar, show the exceptions, optionally approve."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from barq.auth.service import SYSTEM
from barq.billing.models import BillRun, BillRunException
from barq.billing.service import EXCEPTION_KINDS, approve_bill_run, rate_bill_run, run_options, start_bill_run
from barq.clock import Clock
from barq.db import make_engine, make_sessionmaker, transaction
from barq.errors import BarqError
from barq.ids import normalize_digits
from barq.network.models import District
from barq.rating.book import load_default_library
from barq.settings import get_settings

out = Console()
err = Console(stderr=True)


def parse_cycle(value: str) -> int:
    """ "1405/08", "1405-8" or "140508" → 140508."""
    text = normalize_digits(value).strip().replace("-", "/")
    if "/" in text:
        year, _, month = text.partition("/")
        if year.isdigit() and month.isdigit():
            return int(year) * 100 + int(month)
    elif text.isdigit() and len(text) == 6:
        return int(text)
    raise typer.BadParameter(f"cycle must look like 1405/08, got {value!r}")


def register(app: typer.Typer) -> None:
    app.command("bill-run")(bill_run)


def bill_run(
    cycle: Annotated[str | None, typer.Option(help="Jalali year/month of the cycle, e.g. 1405/08")] = None,
    district: Annotated[list[str] | None, typer.Option(help="District code; repeat for several")] = None,
    route: Annotated[list[int] | None, typer.Option(help="Route id; repeat for several")] = None,
    resume: Annotated[int | None, typer.Option(help="Continue a run that was interrupted")] = None,
    approve: Annotated[bool, typer.Option(help="Approve and issue the bills after rating")] = False,
) -> None:
    """Price every due subscription of a cycle (resumable), list the exceptions, and approve on request."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    clock = Clock(settings.time_zone)
    try:
        if resume is None:
            if cycle is None:
                raise typer.BadParameter("give --cycle (or --resume RUN_ID)")
            with transaction(factory) as session:
                ids = []
                for code in district or []:
                    found = session.scalar(select(District.id).where(District.code == code))
                    if found is None:
                        raise typer.BadParameter(f"unknown district code {code}")
                    ids.append(found)
                run_id = start_bill_run(
                    session,
                    principal=SYSTEM,
                    clock=clock,
                    cycle=parse_cycle(cycle),
                    district_ids=ids,
                    route_ids=list(route or []),
                    options=run_options(settings),
                ).id
        else:
            run_id = resume
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
        ) as progress:
            task = progress.add_task(f"bill run {run_id}", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            run = rate_bill_run(
                factory,
                run_id=run_id,
                library=load_default_library(),
                clock=clock,
                progress=step,
                chunk_size=settings.bill_run_chunk,
            )
        _summary(factory, run)
        if approve:
            with transaction(factory) as session:
                run = approve_bill_run(session, principal=SYSTEM, clock=clock, run_id=run_id)
            out.print(f"issued {run.issued_count:,} bills, {run.amount_total:,} rials payable")
    except BarqError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(exc.exit_code) from exc


def _summary(factory: object, run: BillRun) -> None:
    out.print(
        f"run {run.id} cycle {run.cycle}: {run.rated_count:,} bills, {run.exception_count:,} not billed, "
        f"{run.amount_total:,} rials payable; state {run.state}"
    )
    with factory() as session:  # type: ignore[operator]
        rows = session.execute(
            select(BillRunException.kind, func.count())
            .where(BillRunException.run_id == run.id)
            .group_by(BillRunException.kind)
        ).all()
    if rows:
        table = Table("exception", "count")
        for kind, count in rows:
            table.add_row(f"{kind} ({EXCEPTION_KINDS.get(kind, kind)})", f"{count:,}")
        out.print(table)
