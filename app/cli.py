"""`skm` command: migrate the database, serve the API, create a key, import paper forms."""

import argparse
import asyncio
import re
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import OperationalError

from app.config import Settings, get_settings
from app.db import Database
from app.errors import ProblemError
from app.keys import create_key
from app.schemas import KeyCreate, KeyCreated
from app.vocabulary import ROLES

CHECKOUT_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config() -> Config:
    """alembic.ini of the checkout, or of the working directory (an installed image)."""
    ini = CHECKOUT_INI if CHECKOUT_INI.exists() else Path.cwd() / "alembic.ini"
    return Config(str(ini))


def migrate() -> None:
    """Bring the schema (and the built-in standard questionnaire) to the latest revision."""
    command.upgrade(alembic_config(), "head")


async def _create_key(body: KeyCreate) -> KeyCreated:
    database = Database(get_settings().database_url)
    try:
        async with database.writer() as session, session.begin():
            return await create_key(session, body, None)
    finally:
        await database.dispose()


def settings_or_exit() -> Settings:
    """The settings, or one line per bad setting naming it (`skm: SKM_DATABASE_URL: …`) and
    exit status 2, before anything starts with them."""
    try:
        return get_settings()
    except ValidationError as error:
        for problem in error.errors(include_input=False):
            name = "SKM_" + "_".join(str(part) for part in problem["loc"]).upper()
            message = problem["msg"].removeprefix("Value error, ")
            sys.stderr.write(f"skm: {name}: {message}\n")
    except SettingsError as error:
        field = re.search(r'field "(\w+)"', str(error))
        name = "SKM_" + field[1].upper() if field else "settings"
        sys.stderr.write(f"skm: {name}: not valid JSON\n")
    raise SystemExit(2)


def _key_body(parser: argparse.ArgumentParser, args: argparse.Namespace) -> KeyCreate:
    """The key asked for, checked like the API checks it (e.g. a name fits its column)."""
    try:
        return KeyCreate(
            name=args.name, role=args.role, scope=args.scope, read_responses=args.read_responses
        )
    except ValidationError as error:
        parser.error(
            "; ".join(
                f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}"
                for e in error.errors(include_input=False)
            )
        )


def workers_refusal(workers: int, settings: Settings) -> str | None:
    """Why `workers` processes cannot serve with these settings, if they cannot: each
    worker would keep its own rate limits (in memory) and its own random device secret,
    so limits would multiply and burst detection split between workers."""
    if workers <= 1:
        return None
    missing = [
        name
        for name, value in (
            ("SKM_REDIS_URL", settings.redis_url),
            ("SKM_DEVICE_SECRET", settings.device_secret),
        )
        if not value
    ]
    if not missing:
        return None
    return (
        f"skm serve: {workers} workers need {' and '.join(missing)} set "
        "(shared rate limits and one device secret); set them or serve with 1 worker"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="skm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    serve = sub.add_parser("serve", help="apply migrations, then serve the API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, help="worker processes (default: SKM_WORKERS, else 1)"
    )
    key = sub.add_parser("create-key", help="create an API key and print its token (once)")
    key.add_argument("--name", required=True, help="what the key is for")
    key.add_argument("--role", choices=ROLES, default="admin")
    key.add_argument("--scope", help="unit code: the key reaches that unit's subtree only")
    key.add_argument("--read-responses", action="store_true", help="readers: response rows too")
    imported = sub.add_parser(
        "import", help="import a workbook (XLSX) or CSV of transcribed paper sheets"
    )
    imported.add_argument("file", type=Path, help="the file (the template of the unit)")
    imported.add_argument("--unit", required=True, help="the unit's code")
    imported.add_argument("--dry-run", action="store_true", help="check every row, store none")
    imported.add_argument(
        "--all-or-nothing", action="store_true", help="store nothing unless every row can be"
    )
    imported.add_argument("--report", type=Path, help="write the rows not stored to this XLSX")
    args = parser.parse_args(argv)
    settings = settings_or_exit()
    if args.command == "serve":
        if args.workers is None:
            args.workers = settings.workers
        refusal = workers_refusal(args.workers, settings)
        if refusal is not None:
            print(refusal, file=sys.stderr)  # noqa: T201  (one line, no traceback)
            raise SystemExit(2)
    body = _key_body(parser, args) if args.command == "create-key" else None
    try:
        migrate()
    except OperationalError as error:
        # A URL that parses but cannot be used: a missing directory, no server, refused.
        reason = type(error.orig).__name__ if error.orig is not None else "OperationalError"
        sys.stderr.write(f"skm: SKM_DATABASE_URL: cannot open the database ({reason})\n")
        raise SystemExit(2) from None
    if body is not None:
        try:
            created = asyncio.run(_create_key(body))
        except ProblemError as error:  # e.g. a scope naming no unit
            parser.error(error.problem.detail or error.problem.title)
        print(created.token)  # noqa: T201  (the token, shown once)
        return
    if args.command == "import":
        if not args.file.is_file():
            parser.error(f"{args.file}: no such file")
        from app.imports.command import import_file

        raise SystemExit(
            asyncio.run(
                import_file(
                    settings,
                    args.file,
                    args.file.read_bytes(),
                    args.unit,
                    args.dry_run,
                    args.all_or_nothing,
                    args.report,
                )
            )
        )
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
