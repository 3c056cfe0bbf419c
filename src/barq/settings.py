"""Configuration from environment variables BARQ_* (listed in docs/operations.md)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BARQ_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///barq.db"
    company_code: str = "123"
    company_name: str = "شرکت توزیع نیروی برق استان لرستان"
    time_zone: str = "Asia/Tehran"
    secret_key: str = "dev-secret-change-me"
    session_max_age_seconds: int = 8 * 3600
    cookie_secure: bool = False
    login_max_failures: int = 5
    login_lock_seconds: int = 300
    page_size: int = 25
    bill_due_days: int = 10
    bill_run_chunk: int = 50_000
    bill_low_factor: float = 0.25
    bill_high_factor: float = 3.0
    data_dir: Path = Path(__file__).parent / "data"
    reading_config: Path | None = None
    banks_file: Path | None = None
    # portal payments (docs/portal-payments.md)
    payment_gateway: str = "dev"
    payment_gateway_secret: str = ""
    public_url: str = ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
