"""`barq import-reads FILE`: a handheld file (CSV or JSON) validated and stored with a progress bar, and
`barq reads rebuild-state`: the reading state derived again from the stored reads."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from barq.auth.service import SYSTEM, Principal, get_user, principal_for
from barq.clock import Clock
from barq.db import make_engine, make_sessionmaker, transaction
from barq.errors import BarqError
from barq.reading.incoming import parse_file, rows_in
from barq.reading.pipeline import ContextAhead, import_reads, imported_before
from barq.reading.state import rebuild_state
from barq.settings import get_settings

out = Console()
err = Console(stderr=True)
reads_app = typer.Typer(help="Meter reads.", no_args_is_help=True)
STAGES = {
    "lookup": "finding subscriptions",
    "validate": "validating",
    "store": "storing reads",
    "state": "reading state",
}


def register(app: typer.Typer) -> None:
    app.command("import-reads")(import_reads_command)
    app.add_typer(reads_app, name="reads")


def import_reads_command(
    file: Annotated[Path, typer.Argument(help="CSV or JSON file of reads (docs/reading-files.md)")],
    user: Annotated[
        str | None, typer.Option("--as", help="Record as this user (scope and reader); default: system")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the refused rows (CSV) to this file")] = None,
) -> None:
    """Validate and store a file of reads; the same file twice changes nothing."""
    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    clock = Clock(settings.time_zone)
    try:
        data = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]cannot read {file}: {exc.strerror}[/red]")
        raise typer.Exit(2) from exc
    digest = hashlib.sha256(data).hexdigest()
    with transaction(factory) as session:
        earlier = imported_before(session, digest)
        earlier_id = earlier.id if earlier is not None else None
    if earlier_id is not None:  # not parsed again
        out.print(f"this file was imported before as batch {earlier_id}; nothing changed")
        return
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=out) as progress:
            task = progress.add_task("parsing file", total=5)

            def step(stage: str, done: int, total: int) -> None:
                progress.update(task, completed=1 + done, total=1 + total, description=STAGES.get(stage, stage))

            with transaction(factory) as session, ContextAhead(session, rows_in(data)) as ahead:
                incoming = parse_file(data, tz=clock.tz, filename=file.name)
                progress.update(task, completed=1, description=f"{len(incoming):,} rows read")
                principal: Principal = SYSTEM
                if user is not None:
                    found = get_user(session, user)
                    if found is None or not found.is_active:
                        raise typer.BadParameter(f"no active user {user!r}")
                    principal = principal_for(session, found)
                result = import_reads(
                    session,
                    principal=principal,
                    clock=clock,
                    incoming=incoming,
                    source="handheld",
                    filename=file.name[:200],
                    digest=digest,
                    progress=step,
                    ahead=ahead,
                )
                b = result.batch
                errors_csv = b.errors_csv
    except BarqError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(exc.exit_code) from exc
    if result.already:
        out.print(f"this file was imported before as batch {b.id}; nothing changed")
        return
    out.print(
        f"batch {b.id}: {b.rows_total:,} rows — {b.rows_stored:,} stored ({b.rows_exception:,} to the exception "
        f"queue, {b.rows_estimated:,} estimated), {b.rows_duplicate:,} duplicates, {b.rows_refused:,} refused"
    )
    if errors_csv:
        if report is not None:
            report.write_text(errors_csv, encoding="utf-8")
            out.print(f"refused rows written to {report}")
        else:
            for line in errors_csv.splitlines()[1:11]:
                err.print(line)
            if b.rows_refused > 10:
                err.print(f"… and {b.rows_refused - 10:,} more (use --report FILE)")


@reads_app.command("rebuild-state")
def rebuild_state_command() -> None:
    """Derive every subscription's reading state again from the stored reads (after a repair or a load)."""
    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    with transaction(factory) as session:
        count = rebuild_state(session)
    out.print(f"reading state rebuilt for {count:,} subscriptions")
