"""The closed vocabularies of the service, each defined once.

A vocabulary is a `Literal` type: mypy checks every value written in the code against it,
the request and response schemas validate with it, and what else needs the list derives it
from here — the tables' CHECK constraints (`app/models.py`), the CLI's choices
(`app/cli.py`), the form's channels. Each also carries its name into the OpenAPI document,
so that every body, query parameter and answer refers to one component
(`#/components/schemas/Channel`) and a generated client gets one enum type per vocabulary
rather than one per place it appears. A plain `Literal` alias would be inlined wherever it is
used; the `Named` marker gives its schema a reference instead, and changes nothing else: at
run time the values are plain strings.
"""

from typing import Annotated, Any, Final, Literal, get_args

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


class Named:
    """Marks a `Literal` as one named schema of the OpenAPI document."""

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.description = description

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = handler(source)
        schema["ref"] = self.name  # type: ignore[index]
        return schema

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        reference = handler(schema)
        handler.resolve_ref_schema(reference)["description"] = self.description
        return reference


def values(vocabulary: Any) -> tuple[str, ...]:
    """The words of a vocabulary, in the order they are defined."""
    literal = get_args(vocabulary)[0]
    return get_args(literal)


Channel = Annotated[
    Literal["kiosk", "mobile", "web", "paper"],
    Named("Channel", "How a response was collected: kiosk, mobile app, web form or paper form"),
]
CHANNELS: Final = values(Channel)
CHANNEL_LABELS: Final[dict[str, str]] = {
    "kiosk": "Kiosk",
    "mobile": "Mobile app",
    "web": "Web",
    "paper": "Paper form",
}

Role = Annotated[
    Literal["admin", "manager", "collector", "reader"],
    Named("Role", "What an API key may do"),
]
ROLES: Final = values(Role)
PairedRole = Annotated[
    Literal["collector", "reader"],
    Named("PairedRole", "The role of a key obtained by pairing: a kiosk or a dashboard"),
]

FlagState = Annotated[
    Literal["suspected", "confirmed", "cleared"],
    Named(
        "FlagState",
        "Suspicious-burst review state; suspected and confirmed responses are not counted",
    ),
]
FLAG_STATES: Final = values(FlagState)

FlagDecision = Annotated[
    Literal["confirm", "clear"],
    Named("FlagDecision", "A review of a flagged response: confirm the flag, or clear it"),
]

SurveyStatus = Annotated[
    Literal["draft", "published"],
    Named("SurveyStatus", "A survey version is edited as a draft and immutable once published"),
]
SURVEY_STATUSES: Final = values(SurveyStatus)

UnitKind = Annotated[
    Literal["government", "service_mall", "agency", "service_unit", "other"],
    Named("UnitKind", "What a node of the service hierarchy is"),
]

# --- the respondent's profile: coarse bands, every one optional ---------------------------

_ProfileField = Literal["gender", "age_band", "education", "occupation"]
ProfileField = Annotated[_ProfileField, Named("ProfileField", "A respondent profile field")]
PROFILE_FIELDS: Final = values(ProfileField)

Gender = Annotated[Literal["L", "P"], Named("Gender", "L (laki-laki) or P (perempuan)")]
AgeBand = Annotated[
    Literal["<20", "20-29", "30-39", "40-49", "50-59", "60+"],
    Named("AgeBand", "Age in years, in bands"),
]
Education = Annotated[
    Literal["SD", "SMP", "SMA", "D1-D3", "D4-S1", "S2", "S3"],
    Named("Education", "Highest education completed"),
]
Occupation = Annotated[
    Literal["PNS", "TNI", "POLRI", "SWASTA", "WIRAUSAHA", "LAINNYA"],
    Named("Occupation", "Main occupation"),
]

# --- indices ---------------------------------------------------------------------------

Rule = Annotated[
    Literal["pooled", "mean_of_children"],
    Named("Rule", "How a node's index rolls up its subtree"),
]
Granularity = Annotated[
    Literal["month", "quarter", "semester", "year"],
    Named("Granularity", "The length of each period of a series"),
]
BreakdownBy = Annotated[
    Literal["service", "child", "channel", _ProfileField],
    Named("BreakdownBy", "What the responses of a breakdown are grouped by"),
]

# --- follow-up plans (rencana tindak lanjut) and compliance ------------------------------

ItemStatus = Annotated[
    Literal["planned", "in_progress", "done", "dropped"],
    Named("ItemStatus", "Where a follow-up item stands; `dropped` needs a reason"),
]
ITEM_STATUSES: Final = values(ItemStatus)
PlanState = Annotated[
    Literal["open", "closed"],
    Named("PlanState", "An open plan is edited; a closed one changes only statuses and evidence"),
]
PLAN_STATES: Final = values(PlanState)
RequiredPeriods = Annotated[
    Literal["year", "semester", "quarter"],
    Named("RequiredPeriods", "How often a unit must survey and publish its result"),
]
REQUIRED_PERIODS: Final = values(RequiredPeriods)
Verdict = Annotated[
    Literal["improved", "worse", "no_clear_change", "not_enough_data"],
    Named("Verdict", "What the next comparable period says of a follow-up item's element"),
]

# --- documents, follow-up and compliance ------------------------------------------------------

Language = Annotated[
    Literal["id", "en"],
    Named("Language", "A document's language: id (Bahasa Indonesia, the default) or en"),
]
Element = Annotated[
    Literal[
        "persyaratan",
        "prosedur",
        "waktu",
        "biaya",
        "produk",
        "kompetensi",
        "perilaku",
        "sarana",
        "pengaduan",
    ],
    Named("Element", "One of the nine SKM elements (unsur), by its key"),
]
LogoType = Annotated[
    Literal["image/png", "image/jpeg"], Named("LogoType", "A report logo's image type")
]
CompliancePoint = Annotated[
    Literal["any", "surveyed", "sample_met", "published", "followed_up"],
    Named("CompliancePoint", "A point of the compliance overview a unit may fail (any: one)"),
]
