"""`skm` command: migrate the database, serve the API, create a key, write documents."""

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import OperationalError

from app.config import Settings, get_settings
from app.db import Database
from app.documents.workbook import generate_workbook
from app.errors import ProblemError
from app.keys import create_key
from app.periods import PERIOD_DESCRIPTION, Span, window_or_problem
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


def _document_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unit", required=True, help="unit code (its whole subtree)")
    parser.add_argument("--period", help=PERIOD_DESCRIPTION)
    parser.add_argument("--from", dest="date_from", type=date.fromisoformat, help="first day")
    parser.add_argument("--to", dest="date_to", type=date.fromisoformat, help="last day")
    parser.add_argument("--lang", choices=("id", "en"), default="id")
    parser.add_argument("--output", type=Path, help="file to write (default: its own name, here)")


def _report_window(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Span:
    """The period or days asked for, checked as the API checks them."""
    try:
        chosen = window_or_problem(args.period, args.date_from, args.date_to)
    except ProblemError as error:
        parser.error(error.problem.detail or error.problem.title)
    if chosen.start is None or chosen.end is None:
        parser.error("give --period (e.g. 2026-Q1) or both --from and --to")
    return Span(chosen.label, chosen.start, chosen.end)


def _progress(written: int, expected: int) -> None:
    """One line on stderr, rewritten as the rows go."""
    sys.stderr.write(f"\rrespondents written: {written:,} of {expected:,}")
    sys.stderr.flush()


async def _report(args: argparse.Namespace, window: Span, settings: Settings) -> Path:
    """Write the document asked for (an officer on the server: no key, the whole tree)."""
    database = Database(settings.database_url, pool_size=1)
    try:
        with tempfile.TemporaryDirectory(prefix="skm-report-") as directory:
            made, written = await generate_workbook(
                database,
                None,
                args.unit,
                window,
                args.include_suggestions,
                args.lang,
                Path(directory),
                progress=_progress,
            )
            sys.stderr.write(
                f"\rrespondents written: {written.respondents:,}"
                + (" (one data sheet per month)" if written.split_by_month else "")
                + "\n"
            )
            target = args.output or Path.cwd() / made.name
            shutil.move(made, target)
    finally:
        await database.dispose()
    return Path(target)


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
    report = sub.add_parser("report", help="write a document of a unit and period to a file")
    documents = report.add_subparsers(dest="document", required=True)
    workbook = documents.add_parser("workbook", help="the processing workbook (XLSX)")
    _document_arguments(workbook)
    workbook.add_argument(
        "--include-suggestions", action="store_true", help="add the free-text suggestions"
    )
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
    window = _report_window(parser, args) if args.command == "report" else None
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
    if window is not None:
        try:
            path = asyncio.run(_report(args, window, settings))
        except ProblemError as error:  # e.g. a unit that does not exist
            parser.error(error.problem.detail or error.problem.title)
        print(path)  # noqa: T201  (where the document was written)
        return
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
