"""A unit's report settings: the texts of its Laporan SKM (Kata Pengantar, who ran the
survey, where, who signs) and its logo, set by a manager; NULL means the default text.

The request and response shapes live here rather than in app/schemas.py: only the
documents read them, and the logo's checks (type, size, pixels) need the image library.
"""

import base64
import binascii
import io
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import utcnow
from app.errors import FieldProblem, invalid
from app.models import FOREWORD_LENGTH, LOGO_BYTES, NAME_LENGTH, ReportSettings
from app.schemas import Clean, Closed
from app.vocabulary import LogoType

LOGO_PIXELS = 2000  # neither side of a logo may be larger

_FORMATS: dict[str, LogoType] = {"PNG": "image/png", "JPEG": "image/jpeg"}

Foreword = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=FOREWORD_LENGTH),
    Clean,
]
Line = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_LENGTH), Clean
]


class LogoIn(Closed):
    media_type: LogoType
    data: str = Field(
        max_length=(LOGO_BYTES + 2) // 3 * 4,
        description=f"The image, base64-encoded: PNG or JPEG, at most {LOGO_BYTES} bytes and "
        f"{LOGO_PIXELS}×{LOGO_PIXELS} pixels",
    )


class ReportSettingsIn(Closed):
    """The whole settings (a PUT replaces them): a field left out or null uses the default."""

    foreword: Foreword | None = Field(
        default=None, description="Kata Pengantar (Indonesian); paragraphs split by blank lines"
    )
    foreword_en: Foreword | None = Field(default=None, description="The foreword in English")
    surveyor: Line | None = Field(default=None, description="Who ran the survey")
    place: Line | None = Field(default=None, description="Where (and where the report is signed)")
    signatory_name: Line | None = None
    signatory_title: Line | None = Field(default=None, description="e.g. Kepala Dinas")
    logo: LogoIn | None = None


class LogoOut(BaseModel):
    media_type: LogoType
    bytes: int
    width: int
    height: int
    data: str = Field(description="base64")


class ReportSettingsOut(BaseModel):
    unit: str
    foreword: str | None
    foreword_en: str | None
    surveyor: str | None
    place: str | None
    signatory_name: str | None
    signatory_title: str | None
    logo: LogoOut | None
    updated_at: datetime | None = Field(description="null: never set, every default applies")


class Settings(BaseModel):
    """What a document reads: the stored settings (None = default) and the logo's bytes."""

    foreword: str | None = None
    foreword_en: str | None = None
    surveyor: str | None = None
    place: str | None = None
    signatory_name: str | None = None
    signatory_title: str | None = None
    logo: bytes | None = None
    logo_type: str | None = None
    updated_at: datetime | None = None


def _logo_problem(detail: str, code: str) -> Exception:
    return invalid([FieldProblem(pointer="/logo/data", detail=detail, code=code)])


def checked_logo(logo: LogoIn) -> tuple[bytes, LogoType]:
    """The logo's bytes, if they are a PNG or JPEG of the declared type within bounds."""
    try:
        data = base64.b64decode(logo.data, validate=True)
    except (binascii.Error, ValueError):
        raise _logo_problem("not valid base64", "bad_base64") from None
    if len(data) > LOGO_BYTES:
        raise _logo_problem(f"at most {LOGO_BYTES} bytes", "too_large")
    from PIL import Image, UnidentifiedImageError  # the document libraries load on first use

    try:
        with Image.open(io.BytesIO(data)) as image:
            found = _FORMATS.get(image.format or "")
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _logo_problem("not a readable PNG or JPEG image", "bad_image") from None
    if found is None:
        raise _logo_problem("must be a PNG or JPEG image", "bad_image")
    if found != logo.media_type:
        raise _logo_problem(f"the image is {found}, not {logo.media_type}", "type_mismatch")
    if width > LOGO_PIXELS or height > LOGO_PIXELS:
        raise _logo_problem(f"at most {LOGO_PIXELS}×{LOGO_PIXELS} pixels", "too_large")
    return data, found


def _out(unit_code: str, row: ReportSettings | Settings | None) -> ReportSettingsOut:
    if row is None:
        row = Settings()
    logo = None
    if row.logo is not None and row.logo_type is not None:
        from PIL import Image  # the document libraries load on first use

        with Image.open(io.BytesIO(row.logo)) as image:
            width, height = image.size
        logo = LogoOut(
            media_type="image/png" if row.logo_type == "image/png" else "image/jpeg",
            bytes=len(row.logo),
            width=width,
            height=height,
            data=base64.b64encode(row.logo).decode(),
        )
    return ReportSettingsOut(
        unit=unit_code,
        foreword=row.foreword,
        foreword_en=row.foreword_en,
        surveyor=row.surveyor,
        place=row.place,
        signatory_name=row.signatory_name,
        signatory_title=row.signatory_title,
        logo=logo,
        updated_at=row.updated_at,
    )


async def get_settings_out(
    session: AsyncSession, unit_id: int, unit_code: str
) -> ReportSettingsOut:
    return _out(unit_code, await session.get(ReportSettings, unit_id))


async def put_settings(
    session: AsyncSession, unit_id: int, unit_code: str, body: ReportSettingsIn
) -> ReportSettingsOut:
    logo, logo_type = checked_logo(body.logo) if body.logo is not None else (None, None)
    row = await session.get(ReportSettings, unit_id)
    if row is None:
        row = ReportSettings(unit_id=unit_id)
        session.add(row)
    row.foreword = body.foreword
    row.foreword_en = body.foreword_en
    row.surveyor = body.surveyor
    row.place = body.place
    row.signatory_name = body.signatory_name
    row.signatory_title = body.signatory_title
    row.logo = logo
    row.logo_type = logo_type
    row.updated_at = utcnow()
    await session.flush()
    return _out(unit_code, row)


_READ = select(ReportSettings.__table__).where(ReportSettings.unit_id == bindparam("unit_id"))


async def read_settings(
    conn: AsyncConnection, unit_id: int, published: dict[str, Any] | None = None
) -> Settings:
    """The settings a document is made with: for a published period, those kept with its
    record (`published`: the record's stored report) — a foreword or signatory changed
    later does not rewrite a published Laporan; otherwise (or for a record kept before
    publications carried them) the unit's current ones, read on the report's connection
    (defaults when never set)."""
    kept = published.get("document") if published is not None else None
    if kept is not None:
        logo = kept.get("logo")
        return Settings.model_validate(
            {**kept, "logo": base64.b64decode(logo) if logo is not None else None}
        )
    row = (await conn.execute(_READ, {"unit_id": unit_id})).first()
    return Settings.model_validate(row._mapping) if row is not None else Settings()
