"""Settings from `SKM_`-prefixed environment variables (see README and .env.example)."""

from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SKM_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./skm.db",
        description="sqlite:///path or postgresql://user:pass@host:port/db",
    )
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_connect_timeout_seconds: float = Field(
        default=5, ge=1, le=300, description="Longest wait for a new PostgreSQL connection"
    )
    db_timeout_seconds: float = Field(
        default=10,
        gt=0,
        le=3600,
        description="A request's database time before it is answered 503 (exports stream on); "
        "also the wait for a free pooled connection, and SQLite's wait for another process's lock",
    )
    workers: int = Field(
        default=1, ge=1, le=64, description="Worker processes of `skm serve` (over 1 needs Redis)"
    )
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=500, ge=1, le=5000)
    max_clock_skew_seconds: int = Field(
        default=300, ge=0, description="How far in the future collected_at may be."
    )
    max_collected_age_days: int = Field(
        default=90, ge=1, description="How old collected_at may be when a response arrives."
    )
    max_page_size: int = Field(default=500, ge=1, le=10000)
    log_level: str = "INFO"
    redis_url: str | None = Field(
        default=None,
        description="redis://host:6379/0 shares rate limits between instances; unset: memory",
    )
    rate_limit_key: str = Field(
        default="600/minute", description="Requests per API key (each kiosk has its own)"
    )
    rate_limit_public: str = Field(
        default="30/minute", description="Keyless requests per client address"
    )
    burst_seconds: int = Field(
        default=30,
        ge=0,
        description="Identical answers from one device closer than this are flagged (0: off)",
    )
    public_min_group: int = Field(
        default=10, ge=1, description="Published groups smaller than this are suppressed"
    )
    ticket_hours: int = Field(default=72, ge=1, description="How long a counter ticket stays valid")
    cors_origins: list[str] = Field(
        default_factory=list, description='Dashboard origins, e.g. ["https://skm.example.go.id"]'
    )
    device_secret: str = Field(
        default="",
        description="Keys the hash of public clients' addresses (set the same on every instance)",
    )


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment (the command line and the default app use these)."""
    return Settings()


async def current_settings(request: Request) -> Settings:
    """The running app's settings (a dependency)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(current_settings)]
