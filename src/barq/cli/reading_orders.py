"""`barq reading-orders`: write the reading orders of a cycle (every route, a district or one route) to a CSV
or JSON file (docs/reading-orders.md), with a progress bar and a summary line."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from barq.auth.service import SYSTEM
from barq.clock import Clock
from barq.db import make_engine, make_sessionmaker
from barq.errors import BarqError, ValidationError
from barq.reading.orders import check_format, plan_orders, write_orders
from barq.settings import get_settings

out = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("reading-orders")(reading_orders)


def reading_orders(
    cycle: Annotated[str, typer.Option(help="Jalali year/month of the cycle, e.g. 1405/09")],
    out_file: Annotated[Path, typer.Option("--out", help="File to write (replaced if it exists)")],
    district: Annotated[str | None, typer.Option(help="District code, e.g. 11")] = None,
    route: Annotated[str | None, typer.Option(help="Route code (give --district too when codes repeat)")] = None,
    format: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    workers: Annotated[
        int, typer.Option(help="Processes writing at once (default: the CPU count, at most 4)", min=1, max=16)
    ] = min(os.cpu_count() or 1, 4),
) -> None:
    """Reading orders of a cycle: one row per subscription to read, with its last read and accepted range."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    started = time.perf_counter()
    tmp = out_file.with_name(out_file.name + ".part")  # the file appears whole or not at all
    try:
        fmt = check_format(format)
        with factory() as session:
            plan = plan_orders(
                session, principal=SYSTEM, clock=Clock(settings.time_zone), cycle=cycle, district=district, route=route
            )
            with (
                Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=err,
                    transient=True,
                ) as progress,
                tmp.open("wb") as fh,
            ):
                task = progress.add_task(f"orders {plan.cycle}", total=plan.subscriptions or None)

                def step(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                rows = write_orders(session, plan, fh, fmt=fmt, workers=workers, progress=step)
            session.rollback()
        tmp.replace(out_file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        err.print(f"[red]cannot write {out_file}: {exc.strerror}[/red]")
        raise typer.Exit(1) from exc
    except BarqError as exc:
        tmp.unlink(missing_ok=True)
        err.print(f"[red]{exc.detail}[/red]")
        if isinstance(exc, ValidationError):
            for field, message in exc.errors.items():
                err.print(f"  {field}: {message}")
        raise typer.Exit(exc.exit_code) from exc
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    out.print(
        f"cycle {plan.cycle}: {rows:,} orders on {len(plan.routes):,} routes written to {out_file} "
        f"({out_file.stat().st_size / 2**20:,.1f} MB, {fmt}) in {seconds:.1f} s"
    )
