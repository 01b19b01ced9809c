"""`skm` command: migrate the database, serve the API, create a key, make documents, import
paper forms."""

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import date
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
from app.observability import configure_logging
from app.partitions import MONTHS_AHEAD, archive_command, maintain_command, parse_month
from app.periods import PERIOD_DESCRIPTION, Span, window_or_problem
from app.schemas import KeyCreate, KeyCreated
from app.vocabulary import ROLES

CHECKOUT_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config() -> Config:
    """alembic.ini of the checkout, or of the working directory (an installed image)."""
    ini = CHECKOUT_INI if CHECKOUT_INI.exists() else Path.cwd() / "alembic.ini"
    return Config(str(ini))


def migrate(own_logging: bool = False) -> None:
    """Bring the schema (and the built-in standard questionnaire) to the latest revision.
    With `own_logging` (`skm serve`), Alembic's lines go through the service's logging
    instead of the handlers of alembic.ini."""
    config = alembic_config()
    if own_logging:
        config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


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


METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def metrics_directory(workers: int) -> str | None:
    """With several workers, the directory where each keeps its metrics (prometheus_client's
    multiprocess mode), so that a scrape of any worker reports them all: the operator's
    PROMETHEUS_MULTIPROC_DIR, emptied of a previous run's files, else a new temporary
    directory, removed when serving ends (the path is returned). Set in the environment
    before the workers start, as prometheus_client reads it when a worker imports it."""
    if workers <= 1:
        return None
    given = os.environ.get(METRICS_DIR_VARIABLE)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    created = tempfile.mkdtemp(prefix="skm-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = created
    return created


class Progress:
    """One line per step of a long generation on stderr, with the time it took."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def step(self, what: str) -> None:
        elapsed = time.perf_counter() - self.started
        sys.stderr.write(f"skm report: {elapsed:6.2f} s  {what}\n")
        sys.stderr.flush()


async def _document(args: argparse.Namespace, settings: Settings, progress: Progress) -> bytes:
    """The Laporan or the poster of a unit and period: from the newest record published for
    the period when there is one (unless --live), the live index otherwise."""
    from app import indices
    from app.documents.figures import figures, poster_link
    from app.documents.poster import poster_pdf, poster_png
    from app.documents.report import laporan_pdf
    from app.periods import parse_period

    window = parse_period(args.period)
    # An officer's command on the server: no request deadline, a connection or two.
    database = Database(settings.database_url, pool_size=2, timeout=3600)
    try:
        async with database.read_connection() as conn:
            unit = await indices.find_unit(conn, args.unit)
            if unit is None:
                raise ProblemError(404, "not_found", "Not found", f"no unit {args.unit!r}")
            progress.step(f"reading the figures of {unit.code} for {args.period}")
            data = await figures(
                conn, unit, window, full=args.document == "laporan", live=args.live
            )
            progress.step(f"figures: {data.source.metadata()}")
            url = await poster_link(conn, unit, args.period, settings.public_base_url)
    finally:
        await database.dispose()
    progress.step("figures read; laying out the document")
    if args.document == "laporan":
        return laporan_pdf(data, args.lang)
    if unit.public and url is None:
        progress.step("no QR code: no public record of the period, or SKM_PUBLIC_BASE_URL unset")
    pdf = poster_pdf(data, args.lang, url)
    if args.format == "png":
        progress.step("rendering the PNG")
        return poster_png(pdf)
    return pdf


def report_command(args: argparse.Namespace, settings: Settings) -> None:
    progress = Progress()
    try:
        body = asyncio.run(_document(args, settings, progress))
    except ProblemError as error:
        sys.stderr.write(f"skm report: {error.problem.detail or error.problem.title}\n")
        raise SystemExit(1) from None
    extension = "pdf" if args.document == "laporan" else args.format
    default = f"{args.document}-skm-{args.unit}-{args.period}-{args.lang}.{extension}"
    output = Path(args.output or default)
    output.write_bytes(body)
    progress.step(f"wrote {output} ({len(body)} bytes)")


def _period_argument(text: str) -> str:
    from app.periods import parse_period

    try:
        parse_period(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_report_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """`skm report laporan|poster|workbook …` (each document a subcommand of `report`)."""
    report = sub.add_parser("report", help="make a document of a unit's period")
    documents = report.add_subparsers(dest="document", required=True)
    laporan = documents.add_parser("laporan", help="the Laporan Hasil SKM (PDF)")
    poster = documents.add_parser("poster", help="the poster (Infografis SKM), PDF or PNG")
    poster.add_argument("--format", choices=("pdf", "png"), default="pdf")
    workbook = documents.add_parser("workbook", help="the processing workbook (XLSX)")
    _document_arguments(workbook)
    workbook.add_argument(
        "--include-suggestions", action="store_true", help="add the free-text suggestions"
    )
    workbook.add_argument(
        "--live",
        action="store_true",
        help="the live rows and index even when the period was published (default: its "
        "newest record and the rows it counted)",
    )
    for parser in (laporan, poster):
        parser.add_argument("--unit", required=True, help="unit code (its whole subtree)")
        parser.add_argument(
            "--period", required=True, type=_period_argument, help="2026, 2026-S1, 2026-Q3, 2026-03"
        )
        parser.add_argument("--lang", choices=("id", "en"), default="id")
        parser.add_argument(
            "--live",
            action="store_true",
            help="the live index even when the period was published (default: its newest record)",
        )
        parser.add_argument("--output", "-o", help="file to write (default: a name of its own)")


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
            from app.documents.workbook import (
                generate_workbook,  # the document libraries load on first use
            )

            made, written = await generate_workbook(
                database,
                None,
                args.unit,
                window,
                args.include_suggestions,
                args.lang,
                Path(directory),
                progress=_progress,
                live=args.live,
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


def _month_argument(text: str) -> date:
    try:
        return parse_month(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_partition_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """`skm partitions maintain|archive`: the monthly partitions of responses (PostgreSQL)."""
    partitions = sub.add_parser(
        "partitions", help="monthly partitions of responses on PostgreSQL: create, archive"
    )
    actions = partitions.add_subparsers(dest="action", required=True)
    maintain = actions.add_parser("maintain", help="create this month's and the next months'")
    maintain.add_argument("--ahead", type=int, default=MONTHS_AHEAD, help="months after this one")
    maintain.add_argument(
        "--move-default",
        action="store_true",
        help="create a month whose rows are in the DEFAULT partition, moving them into it",
    )
    archive = actions.add_parser(
        "archive", help="write old months to csv.gz with a manifest, then detach and drop them"
    )
    archive.add_argument(
        "--before", type=_month_argument, required=True, help="YYYY-MM: the months before it"
    )
    archive.add_argument("--to", type=Path, required=True, help="the directory to write to")


def partition_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "maintain":
        return maintain_command(settings, args.ahead, args.move_default, sys.stdout)
    return archive_command(settings, args.before, args.to, sys.stdout)


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
    add_report_commands(sub)
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
    add_partition_commands(sub)
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
    if args.command == "serve":
        configure_logging(settings.log_level, settings.log_format)
    window = (
        _report_window(parser, args)
        if args.command == "report" and args.document == "workbook"
        else None
    )
    try:
        migrate(own_logging=args.command == "serve")
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
    if args.command == "report":
        report_command(args, settings)
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
    if args.command == "partitions":
        raise SystemExit(partition_command(args, settings))
    if args.command == "serve":
        import uvicorn

        made = metrics_directory(args.workers)
        try:
            uvicorn.run(
                "app.main:create_app",
                factory=True,
                host=args.host,
                port=args.port,
                workers=args.workers,
                proxy_headers=True,
                # The app's logging (configure_logging) takes uvicorn's loggers too: one
                # format, with the request id, on every line.
                log_config=None,
                log_level=settings.log_level.lower(),
                # A worker answers the supervisor's health checks once it has imported the
                # app: on a busy small host that took over uvicorn's 5 s, and the worker was
                # killed and started again, in a loop.
                timeout_worker_healthcheck=30,
            )
        finally:
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)


if __name__ == "__main__":
    main()
