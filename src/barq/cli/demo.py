"""`barq demo`: build a synthetic province (deterministic) in a SQLite file and serve it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

out = Console()


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    accounts: Annotated[int, typer.Option(help="Number of subscriptions to generate")] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same province)")] = 1405,
    database_url: Annotated[str, typer.Option(help="Where to build it")] = "sqlite:///barq-demo.db",
    rebuild: Annotated[bool, typer.Option("--rebuild/--keep", help="Rebuild even if the file exists")] = False,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the site afterwards")] = True,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    months: Annotated[int, typer.Option(help="Months read before today; all but the last are billed")] = 13,
) -> None:
    """Build the demo province (11 districts, customers, subscriptions, meters, contractors, users)
    and serve it, printing the address and one login per role."""
    from barq.cli.main import upgrade_database
    from barq.clock import FixedClock
    from barq.db import make_engine
    from barq.demo.generator import DEMO_PASSWORD, build_demo, demo_logins, is_built
    from barq.demo.history import build_history
    from barq.demo.payments import payments_received

    clock = FixedClock()  # the demo is the same on every day it is built

    if accounts < 1:
        raise typer.BadParameter("accounts must be at least 1")
    sqlite_path = Path(database_url.removeprefix("sqlite:///")) if database_url.startswith("sqlite:///") else None
    if rebuild and sqlite_path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    upgrade_database(database_url)
    engine = make_engine(database_url)
    if is_built(engine) and not rebuild:
        out.print(f"using the demo already built in {database_url} (--rebuild to build it again)")
    else:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=out,
        ) as progress:
            task = progress.add_task("building the demo province", total=accounts)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            summary = build_demo(engine, accounts=accounts, seed=seed, progress=step, clock=clock)
            history = progress.add_task("a year of reads, bills and payments", total=months - 1)

            def month_done(done: int, total: int) -> None:
                progress.update(history, completed=done, total=total)

            started = time.perf_counter()
            bills = build_history(engine, clock=clock, months=months, seed=seed, progress=month_done)
        out.print(
            f"built {summary.accounts:,} subscriptions in {summary.elapsed_seconds:.1f} s, "
            f"then {bills:,} bills and {payments_received(engine):,} payments over {months - 1} months "
            f"in {time.perf_counter() - started:.1f} s"
        )
    engine.dispose()

    out.print(f"\n[bold]barq demo[/bold]: http://{host}:{port}/   (API docs: http://{host}:{port}/api/docs)")
    out.print(f"logins (password for all: [bold]{DEMO_PASSWORD}[/bold]):")
    for role, username in demo_logins():
        out.print(f"  {username:<12} {role}")
    if serve:
        import uvicorn

        from barq.settings import get_settings
        from barq.web.app import create_app

        os.environ["BARQ_DATABASE_URL"] = database_url
        get_settings.cache_clear()
        uvicorn.run(create_app(), host=host, port=port, log_level="warning")
