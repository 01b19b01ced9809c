"""Settings from `SKM_`-prefixed environment variables (see README and .env.example)."""

from functools import lru_cache
from typing import Literal

from limits import parse
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The most a batch may ever hold (SKM_MAX_BATCH_ITEMS is at most this).
MAX_BATCH_ITEMS_CEILING = 5000
DATABASE_BACKENDS = ("sqlite", "postgresql")
REDIS_SCHEMES = ("redis", "rediss", "unix")  # what redis-py connects to


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SKM_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./skm.db",
        description="sqlite:///path or postgresql://user:pass@host:port/db",
    )
    database_read_url: str | None = Field(
        default=None,
        description="A PostgreSQL streaming replica for the heavy reads (indices, documents, "
        "compliance); keys, publication records and every write stay on the primary",
    )
    replica_max_lag_seconds: float = Field(
        default=30,
        ge=0,
        le=86400,
        description="A replica further behind than this (or down) is left for the primary",
    )
    db_pool_size: int = Field(
        default=20,
        ge=1,
        le=200,
        description="PostgreSQL connections each worker keeps (no overflow): instances × "
        "workers × this must stay under the server's max_connections",
    )
    db_prepare: bool = Field(
        default=True,
        description="Let the driver prepare frequent statements on the server; false behind "
        "a pooler in transaction mode (PgBouncer before 1.21 cannot keep them)",
    )
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
    max_upload_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest uploaded import file"
    )
    max_batch_items: int = Field(default=500, ge=1, le=MAX_BATCH_ITEMS_CEILING)
    max_batches_in_flight: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="Batch submissions a worker parses and works on at once; more wait, "
        "their bodies read but not parsed",
    )
    max_clock_skew_seconds: int = Field(
        default=300, ge=0, description="How far in the future collected_at may be."
    )
    max_collected_age_days: int = Field(
        default=90, ge=1, description="How old collected_at may be when a response arrives."
    )
    max_page_size: int = Field(default=500, ge=1, le=10000)
    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text, or as one JSON object per line"
    )
    metrics_token: str = Field(
        default="",
        description="Bearer token that reads /metrics (Prometheus); unset: /metrics is off",
    )
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
    public_period: Literal["quarter", "semester", "year"] = Field(
        default="quarter",
        description="The one period length public figures are given for (choose it once)",
    )
    compliance_grace_days: int = Field(
        default=30,
        ge=0,
        le=366,
        description="A required period without a published result is overdue this many days "
        "after it ends",
    )
    ticket_hours: int = Field(default=72, ge=1, description="How long a counter ticket stays valid")
    cors_origins: list[str] = Field(
        default_factory=list, description='Dashboard origins, e.g. ["https://skm.example.go.id"]'
    )
    device_secret: str = Field(
        default="",
        description="Keys the hash of public clients' addresses (set the same on every instance)",
    )
    public_base_url: str = Field(
        default="",
        max_length=200,
        description="The service's public address (https://skm.example.go.id), for the QR code "
        "of a public unit's poster; unset: the address a request came to (the API), or no QR "
        "code from the command line",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        """Refused here, with the setting's name, rather than deep in SQLAlchemy at start-up."""
        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise ValueError("not a database URL (sqlite:///path or postgresql://…)") from None
        if backend not in DATABASE_BACKENDS:
            raise ValueError(f"unsupported database '{backend}': use sqlite or postgresql")
        return url

    @model_validator(mode="after")
    def _replica_of_postgresql(self) -> "Settings":
        """A replica only beside a PostgreSQL primary, and itself PostgreSQL."""
        if self.database_read_url is None:
            return self
        for name, url in (
            ("database_read_url", self.database_read_url),
            ("database_url", self.database_url),
        ):
            try:
                backend = make_url(url).get_backend_name()
            except ArgumentError:
                raise ValueError(f"{name}: not a database URL") from None
            if backend != "postgresql":
                raise ValueError(f"{name}: a read replica needs PostgreSQL on both sides")
        return self

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case_format(cls, log_format: object) -> object:
        return log_format.lower() if isinstance(log_format, str) else log_format

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, url: str | None) -> str | None:
        if not url:
            return None  # SKM_REDIS_URL= (empty) is unset
        if url.partition("://")[0] not in REDIS_SCHEMES:
            raise ValueError("not a Redis URL (redis://host:6379/0)")
        return url

    @field_validator("metrics_token")
    @classmethod
    def _long_enough(cls, token: str) -> str:
        if token and len(token) < 16:
            raise ValueError("at least 16 characters (it guards the service's volumes)")
        return token

    @field_validator("rate_limit_key", "rate_limit_public")
    @classmethod
    def _rate_limit(cls, text: str) -> str:
        try:
            parse(text)
        except ValueError:
            raise ValueError("not a rate limit such as 600/minute") from None
        return text


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment (the command line and the default app use these)."""
    return Settings()
