"""`skm` command: migrate the database, serve the API."""

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config

CHECKOUT_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config() -> Config:
    """alembic.ini of the checkout, or of the working directory (an installed image)."""
    ini = CHECKOUT_INI if CHECKOUT_INI.exists() else Path.cwd() / "alembic.ini"
    return Config(str(ini))


def migrate() -> None:
    """Bring the schema (and the built-in standard questionnaire) to the latest revision."""
    command.upgrade(alembic_config(), "head")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="skm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    serve = sub.add_parser("serve", help="apply migrations, then serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    migrate()
    if args.command == "serve":
        import uvicorn

        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=True,
        )


if __name__ == "__main__":
    main()
