"""Entry point of the `barq` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import barq.tables  # noqa: F401  (every table known before the first query)
from barq.auth.service import create_api_key, create_user, ensure_roles, get_user
from barq.clock import Clock
from barq.db import make_engine, make_sessionmaker, transaction
from barq.errors import BarqError
from barq.network.models import District
from barq.network.service import seed_reference_data
from barq.payments.channels import channel as find_channel
from barq.settings import get_settings

app = typer.Typer(help="برق — customer services and revenue collection", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
user_app = typer.Typer(help="Users and API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
err = Console(stderr=True)
out = Console()

ROOT = Path(__file__).resolve().parents[3]


def _alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def upgrade_database(url: str) -> None:
    from alembic import command

    command.upgrade(_alembic_config(url), "head")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database at BARQ_DATABASE_URL to the newest schema."""
    url = get_settings().database_url
    upgrade_database(url)
    out.print(f"schema up to date: {url.split('@')[-1]}")


@app.command()
def init() -> None:
    """Migrate the database and load reference data (company, climate zones, districts, roles)."""
    settings = get_settings()
    upgrade_database(settings.database_url)
    factory = make_sessionmaker(make_engine(settings.database_url))
    with transaction(factory) as session:
        seed_reference_data(session, company_code=settings.company_code, company_name=settings.company_name)
        ensure_roles(session)
    out.print("database ready")


@user_app.command("add")
def user_add(
    username: str,
    full_name: Annotated[str, typer.Option("--name", help="Full name (Persian)")],
    role: Annotated[list[str], typer.Option("--role", help="Role code; repeat for several")],
    district: Annotated[str | None, typer.Option(help="District code (scope)")] = None,
    contractor_id: Annotated[int | None, typer.Option("--contractor", help="Contractor id (scope)")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
) -> None:
    """Create a user with roles and optional district or contractor scope."""
    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    try:
        with transaction(factory) as session:
            district_id = None
            if district:
                found = session.query(District).filter_by(code=district).one_or_none()
                if found is None:
                    raise typer.BadParameter(f"unknown district code {district}")
                district_id = found.id
            user = create_user(
                session,
                username=username,
                full_name=full_name,
                password=password,
                roles=role,
                district_id=district_id,
                contractor_id=contractor_id,
                clock=Clock(settings.time_zone),
                actor="cli",
            )
            out.print(f"user {user.username} created")
    except BarqError as exc:
        _fail(exc)


@user_app.command("api-key")
def user_api_key(
    username: str,
    name: Annotated[str, typer.Option(help="What the key is for")],
    bank: Annotated[str | None, typer.Option(help="Bind the key to this bank's code: it notifies for it only")] = None,
) -> None:
    """Issue an API key that acts as USERNAME; it is printed once and stored only as a hash."""
    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    try:
        if bank is not None:
            find_channel(bank, kind="bank")
        with transaction(factory) as session:
            user = get_user(session, username)
            if user is None:
                err.print(f"no user {username}")
                raise typer.Exit(1)
            key = create_api_key(
                session, name=name, user=user, clock=Clock(settings.time_zone), actor="cli", channel=bank
            )
        out.print(key)
    except BarqError as exc:
        _fail(exc)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (one per core serves the bank API best)")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request")] = True,
) -> None:
    """Serve the pages and the API."""
    import uvicorn

    if workers > 1:
        uvicorn.run(
            "barq.web.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            access_log=access_log,
        )
        return
    from barq.web.app import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info", access_log=access_log)


def _fail(exc: BarqError) -> None:
    err.print(f"[red]{exc.detail}[/red]")
    if getattr(exc, "errors", None):
        for field, message in exc.errors.items():  # type: ignore[attr-defined]
            err.print(f"  {field}: {message}")
    raise typer.Exit(exc.exit_code)


def _register_plugins() -> None:
    from barq.cli import billing, check_id, demo, payments, reading_orders, reads, tariff

    for module in (billing, check_id, demo, tariff, reading_orders, reads, payments):
        module.register(app)


_register_plugins()


def main() -> None:  # pragma: no cover
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
