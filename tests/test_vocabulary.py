"""Each closed vocabulary is one named schema of the OpenAPI document, and what lists it
elsewhere (labels, CHECK constraints, the CLI) holds the same words."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import CheckConstraint

from app import models  # noqa: F401  (the tables, on the metadata)
from app.cli import main
from app.db import Base
from app.openapi import document
from app.standard_survey import PROFILE_LABELS, PROFILE_OPTIONS
from app.vocabulary import CHANNEL_LABELS, CHANNELS, PROFILE_FIELDS

NAMED = {
    "Channel": ["kiosk", "mobile", "web", "paper"],
    "Role": ["admin", "manager", "collector", "reader"],
    "FlagState": ["suspected", "confirmed", "cleared"],
    "FlagDecision": ["confirm", "clear"],
    "SurveyStatus": ["draft", "published"],
    "UnitKind": ["government", "service_mall", "agency", "service_unit", "other"],
    "ProfileField": ["gender", "age_band", "education", "occupation"],
    "Gender": ["L", "P"],
    "AgeBand": ["<20", "20-29", "30-39", "40-49", "50-59", "60+"],
    "Education": ["SD", "SMP", "SMA", "D1-D3", "D4-S1", "S2", "S3"],
    "Occupation": ["PNS", "TNI", "POLRI", "SWASTA", "WIRAUSAHA", "LAINNYA"],
    "Rule": ["pooled", "mean_of_children"],
    "Granularity": ["month", "quarter", "semester", "year"],
    "BreakdownBy": [
        "service",
        "child",
        "channel",
        "gender",
        "age_band",
        "education",
        "occupation",
    ],
}


def _enums(node: Any, path: str = "") -> Iterator[tuple[str, list[Any]]]:
    if isinstance(node, dict):
        if "enum" in node:
            yield path, node["enum"]
        for key, value in node.items():
            yield from _enums(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _enums(value, f"{path}/{index}")


def test_each_vocabulary_is_one_component_referenced_everywhere() -> None:
    spec = json.loads(document())
    schemas = spec["components"]["schemas"]
    for name, words in NAMED.items():
        assert schemas[name]["enum"] == words, name
    # No list of words is spelled out twice: a vocabulary used in several places is named.
    places: dict[tuple[Any, ...], list[str]] = {}
    for path, words in _enums(spec):
        places.setdefault(tuple(words), []).append(path)
    assert {words: paths for words, paths in places.items() if len(paths) > 1} == {}
    text = json.dumps(spec)
    # The channel: request bodies, answers, the form, and two query parameters.
    assert text.count('"#/components/schemas/Channel"') >= 5
    listing = spec["paths"]["/v1/responses"]["get"]["parameters"]
    [channel] = [p for p in listing if p["name"] == "channel"]
    assert {"$ref": "#/components/schemas/Channel"} in channel["schema"]["anyOf"]


def test_labels_cover_their_vocabulary() -> None:
    assert list(CHANNEL_LABELS) == list(CHANNELS)
    assert list(PROFILE_LABELS) == list(PROFILE_FIELDS) == list(PROFILE_OPTIONS)
    spec = json.loads(document())["components"]["schemas"]
    bands = {"gender": "Gender", "age_band": "AgeBand", "education": "Education"}
    for field, name in {**bands, "occupation": "Occupation"}.items():
        assert list(PROFILE_OPTIONS[field]) == spec[name]["enum"], field


def test_check_constraints_list_the_vocabularies() -> None:
    checks = {
        (table.name, str(check.name)): str(check.sqltext)
        for table in Base.metadata.tables.values()
        for check in table.constraints
        if isinstance(check, CheckConstraint)
    }
    assert checks["responses", "ck_responses_channel"] == (
        "channel IN ('kiosk', 'mobile', 'web', 'paper')"
    )
    assert checks["responses", "ck_responses_flag"] == (
        "flag IN ('suspected', 'confirmed', 'cleared')"
    )
    assert checks["api_keys", "ck_api_keys_role"] == (
        "role IN ('admin', 'manager', 'collector', 'reader')"
    )
    assert checks["survey_versions", "ck_survey_versions_status"] == (
        "status IN ('draft', 'published')"
    )


def test_cli_offers_the_roles(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["create-key", "--name", "x", "--role", "owner"])
    assert "choose from 'admin', 'manager', 'collector', 'reader'" in capsys.readouterr().err
