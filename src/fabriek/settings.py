"""Configuration from FABRIEK_* environment variables, built once at start-up and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FABRIEK_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the embedded SQLite database and logs live."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; PostgreSQL in production. Empty: SQLite in data_dir.",
    )
    policy_dir: Path | None = Field(
        default=None, description="Directory with policy files overriding the packaged ones."
    )
    factories_file: Path | None = Field(
        default=None, description="Factory/partition configuration (until the federation lands)."
    )
    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "info"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fabriek.db').resolve()}"
