"""Alembic environment: the URL comes from the app's settings (SKM_DATABASE_URL), or a
connection is handed in by the caller (tests, `skm migrate`)."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from app import models  # noqa: F401  (registers the tables)
from app.config import get_settings
from app.db import Base, sync_url
from app.partitions import include_object

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,  # the partitions of `responses` are not models
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=sync_url(get_settings().database_url),
            target_metadata=target_metadata,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        run(given)
        return
    engine = create_engine(sync_url(get_settings().database_url))
    with engine.begin() as connection:
        run(connection)
    engine.dispose()


main()
