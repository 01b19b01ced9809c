"""Request and response models of paper forms: print runs, imports, corrections. Kept beside
the package rather than in `app.schemas`, which every other capability shares."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas import Answers, Closed, Code, Id, Profile, Suggestion
from app.vocabulary import Language as Language

ImportState = Literal["queued", "running", "done", "failed", "lost"]
MAX_SHEETS = 200  # sheets per print run (one page each; a larger run is printed as several)


class PrintRequest(Closed):
    sheets: int = Field(ge=1, le=MAX_SHEETS, description="How many sheets (one code each)")
    language: Language = Field(default="id", description="id: Bahasa Indonesia; en: English")
    survey_version_id: Id | None = Field(
        default=None, description="The unit's own version when unset"
    )


class CellProblemOut(BaseModel):
    cell: str = Field(description="Sheet!CellRow, e.g. Responses!E7")
    code: str
    reason: str


class ImportOut(BaseModel):
    """An import job: its progress while it runs, its counts when done."""

    id: int
    unit: str
    survey_version_id: int
    file_name: str | None
    file_format: str
    file_sha256: str
    dry_run: bool
    all_or_nothing: bool
    state: ImportState = Field(description="lost: interrupted, and no process took it up again")
    error: str | None
    rows_total: int | None = Field(description="Rows the file says it has (an estimate)")
    rows_read: int
    stored: int = Field(description="Stored by this import (a dry run: would be stored)")
    refused: int
    present: int = Field(description="Already stored with the same content")
    conflicts: int = Field(description="Stored before with other content: not overwritten")
    withdrawn_rows: int = Field(description="Rows of responses withdrawn before: not imported")
    late: int = Field(description="Stored rows older than the usual submission window")
    percent: float
    created_at: datetime
    finished_at: datetime | None
    withdrawn_at: datetime | None
    problems: list[CellProblemOut] = Field(
        description="The refusals and conflicts, each at its cell (the first 200; the report "
        "lists every one)"
    )


class PaperCorrection(Closed):
    """The corrected content of a stored paper response (replaces what was transcribed)."""

    service: Code
    date: date
    answers: Answers
    profile: Profile = Field(default_factory=Profile)
    suggestion: Suggestion | None = None
