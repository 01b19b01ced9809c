"""Print runs: the codes of a run's sheets, recorded before the sheets are drawn, so that a
code on a returned sheet is known to have been printed for its unit."""

from datetime import date

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.db import utcnow
from app.imports.codes import unique_codes
from app.models import PrintRun, SheetCode, Unit


async def record_run(
    session: AsyncSession,
    caller_key_id: int | None,
    unit: Unit,
    survey_version_id: int,
    sheets: int,
    language: str,
) -> tuple[PrintRun, list[str]]:
    """A new print run of `sheets` codes, none of them ever printed before (for any unit)."""
    run = PrintRun(
        unit_id=unit.id,
        survey_version_id=survey_version_id,
        language=language,
        sheets=sheets,
        created_at=utcnow(),
        api_key_id=caller_key_id,
    )
    session.add(run)
    await session.flush()
    codes = unique_codes(sheets)
    # 40 random bits a code: a clash with an earlier run is rare, and drawn again.
    while taken := set(
        await session.scalars(select(SheetCode.code).where(SheetCode.code.in_(codes)))
    ):
        codes = [c for c in codes if c not in taken] + unique_codes(len(taken), codes)
    await session.execute(
        insert(SheetCode), [{"code": c, "print_run_id": run.id, "unit_id": unit.id} for c in codes]
    )
    return run, codes


def today_in(zone: str) -> date:
    from zoneinfo import ZoneInfo

    return utcnow().astimezone(ZoneInfo(zone)).date()


__all__ = ["Principal", "record_run", "today_in"]
