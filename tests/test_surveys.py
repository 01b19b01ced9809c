"""Survey definitions: the built-in standard questionnaire, units' versioned local variants,
assigning a version to a unit, and what a response to a variant must satisfy."""

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import (
    PROBLEM,
    STANDARD_VERSION_ID,
    all_answers,
    extra_question,
    make_variant,
    only_error,
    response_item,
    store,
    variant_definition,
)

STANDARD = "skm-permenpan-14-2017"

# docs/method.md §1, copied by hand: key, question, labels for scores 1..4.
STANDARD_QUESTIONS = [
    (
        "persyaratan",
        "Bagaimana pendapat Saudara tentang kesesuaian persyaratan pelayanan dengan jenis "
        "pelayanannya?",
        ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"],
    ),
    (
        "prosedur",
        "Bagaimana pemahaman Saudara tentang kemudahan prosedur pelayanan di unit ini?",
        ["Tidak mudah", "Kurang mudah", "Mudah", "Sangat mudah"],
    ),
    (
        "waktu",
        "Bagaimana pendapat Saudara tentang kecepatan waktu dalam memberikan pelayanan?",
        ["Tidak cepat", "Kurang cepat", "Cepat", "Sangat cepat"],
    ),
    (
        "biaya",
        "Bagaimana pendapat Saudara tentang kewajaran biaya/tarif dalam pelayanan?",
        ["Sangat mahal", "Cukup mahal", "Murah", "Gratis"],
    ),
    (
        "produk",
        "Bagaimana pendapat Saudara tentang kesesuaian produk pelayanan antara yang tercantum "
        "dalam standar pelayanan dengan hasil yang diberikan?",
        ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"],
    ),
    (
        "kompetensi",
        "Bagaimana pendapat Saudara tentang kompetensi/kemampuan petugas dalam pelayanan?",
        ["Tidak kompeten", "Kurang kompeten", "Kompeten", "Sangat kompeten"],
    ),
    (
        "perilaku",
        "Bagaimana pendapat Saudara perilaku petugas dalam pelayanan terkait kesopanan dan "
        "keramahan?",
        [
            "Tidak sopan dan ramah",
            "Kurang sopan dan ramah",
            "Sopan dan ramah",
            "Sangat sopan dan ramah",
        ],
    ),
    (
        "sarana",
        "Bagaimana pendapat Saudara tentang kualitas sarana dan prasarana?",
        ["Buruk", "Cukup", "Baik", "Sangat baik"],
    ),
    (
        "pengaduan",
        "Bagaimana pendapat Saudara tentang penanganan pengaduan pengguna layanan?",
        [
            "Tidak ada",
            "Ada tetapi tidak berfungsi",
            "Berfungsi kurang maksimal",
            "Dikelola dengan baik",
        ],
    ),
]


def problem(answer: Any, status: int, kind: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"] == f"urn:skm:problem:{kind}"


# --- the standard questionnaire ------------------------------------------------------------


def test_standard_version_has_the_nine_elements_in_questionnaire_order_with_method_texts(
    client: TestClient,
) -> None:
    got = client.get(f"/v1/survey-versions/{STANDARD_VERSION_ID}")
    assert got.status_code == 200, got.text
    version = got.json()
    assert (version["id"], version["version"], version["status"], version["survey"]) == (
        1,
        1,
        "published",
        STANDARD,
    )
    assert version["published_at"] is not None
    questions = version["definition"]["questions"]
    assert [
        (q["element"], q["text"]["id"], [o["label"]["id"] for o in q["options"]]) for q in questions
    ] == [(key, text, labels) for key, text, labels in STANDARD_QUESTIONS]
    for question in questions:
        assert [o["score"] for o in question["options"]] == [1, 2, 3, 4]
        assert question["required"] is True
    assert version["definition"]["extra_questions"] == []
    assert version["definition"]["profile_fields"] == [
        "gender",
        "age_band",
        "education",
        "occupation",
    ]


def test_standard_scores_biaya_gratis_4_and_pengaduan_tidak_ada_1(client: TestClient) -> None:
    questions = {
        q["element"]: {o["label"]["id"]: o["score"] for o in q["options"]}
        for q in client.get("/v1/survey-versions/1").json()["definition"]["questions"]
    }
    assert questions["biaya"] == {"Sangat mahal": 1, "Cukup mahal": 2, "Murah": 3, "Gratis": 4}
    assert questions["pengaduan"]["Tidak ada"] == 1
    assert questions["pengaduan"]["Dikelola dengan baik"] == 4


def test_standard_survey_is_listed_as_builtin_with_one_published_version(
    client: TestClient,
) -> None:
    listed = client.get("/v1/surveys")
    assert listed.status_code == 200, listed.text
    [survey] = listed.json()
    assert client.get(f"/v1/surveys/{STANDARD}").json() == survey
    assert (survey["code"], survey["owner_unit"], survey["builtin"]) == (STANDARD, None, True)
    [summary] = survey["versions"]
    assert (summary["id"], summary["version"], summary["status"]) == (1, 1, "published")
    by_number = client.get(f"/v1/surveys/{STANDARD}/versions/1")
    assert by_number.json() == client.get("/v1/survey-versions/1").json()


def test_standard_survey_cannot_change(client: TestClient) -> None:
    body = {"definition": variant_definition()}
    problem(client.post(f"/v1/surveys/{STANDARD}/versions", json=body), 409, "builtin-survey")
    problem(client.put(f"/v1/surveys/{STANDARD}/versions/1", json=body), 409, "version-published")
    problem(client.post(f"/v1/surveys/{STANDARD}/versions/1/publish"), 409, "version-published")
    assert (
        client.get("/v1/survey-versions/1").json()["definition"]["questions"][0]["text"]["id"]
        == STANDARD_QUESTIONS[0][1]
    )
    assert len(client.get(f"/v1/surveys/{STANDARD}").json()["versions"]) == 1


# --- local variants ------------------------------------------------------------------------


def test_variant_is_created_owned_by_a_unit(mall: TestClient) -> None:
    created = mall.post(
        "/v1/surveys",
        json={"code": "skm-dpmptsp", "title": " SKM DPMPTSP ", "owner_unit": "dpmptsp"},
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/surveys/skm-dpmptsp"
    assert created.json() == {
        "code": "skm-dpmptsp",
        "title": "SKM DPMPTSP",
        "owner_unit": "dpmptsp",
        "builtin": False,
        "versions": [],
    }
    assert mall.get("/v1/surveys/skm-dpmptsp").json() == created.json()
    assert [s["code"] for s in mall.get("/v1/surveys").json()] == ["skm-dpmptsp", STANDARD]
    owned = mall.get("/v1/surveys", params={"owner_unit": "dpmptsp"}).json()
    assert [s["code"] for s in owned] == ["skm-dpmptsp"]
    assert mall.get("/v1/surveys", params={"owner_unit": "mpp"}).json() == []


@pytest.mark.parametrize(
    ("change", "status", "expected"),
    [
        ({"owner_unit": "nowhere"}, 422, ("/owner_unit", "unknown_unit")),
        ({"code": STANDARD}, 409, None),
        ({"code": "SKM_Lokal"}, 422, ("/code", "string_pattern_mismatch")),
        ({"title": "t" * 201}, 422, ("/title", "string_too_long")),
        ({"title": " "}, 422, ("/title", "string_too_short")),
        ({"owner_unit": None}, 422, ("/owner_unit", "string_type")),
    ],
)
def test_invalid_variant_is_refused(
    mall: TestClient, change: dict[str, Any], status: int, expected: tuple[str, str] | None
) -> None:
    body = {"code": "skm-lokal", "title": "SKM lokal", "owner_unit": "dpmptsp", **change}
    refused = mall.post("/v1/surveys", json=body)
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == PROBLEM
    if expected is not None:
        assert only_error(refused.json()) == expected
    else:
        assert refused.json()["type"] == "urn:skm:problem:code-taken"
    assert [s["code"] for s in mall.get("/v1/surveys").json()] == [STANDARD]


def test_variant_version_lifecycle_draft_update_publish(mall: TestClient) -> None:
    assert (
        mall.post(
            "/v1/surveys", json={"code": "skm-dpmptsp", "title": "SKM", "owner_unit": "dpmptsp"}
        ).status_code
        == 201
    )
    first = variant_definition(title="Draf pertama")
    created = mall.post("/v1/surveys/skm-dpmptsp/versions", json={"definition": first})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/surveys/skm-dpmptsp/versions/1"
    draft = created.json()
    assert (draft["survey"], draft["version"], draft["status"], draft["published_at"]) == (
        "skm-dpmptsp",
        1,
        "draft",
        None,
    )
    assert draft["id"] != STANDARD_VERSION_ID
    assert draft["definition"] == first

    second = variant_definition(
        title="Draf kedua",
        optional=("biaya",),
        extra_questions=(extra_question("antrian", "ya", "tidak"),),
    )
    updated = mall.put("/v1/surveys/skm-dpmptsp/versions/1", json={"definition": second})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["id"], updated.json()["status"]) == (draft["id"], "draft")
    assert updated.json()["definition"] == second
    assert mall.get(f"/v1/survey-versions/{draft['id']}").json()["definition"] == second

    published = mall.post("/v1/surveys/skm-dpmptsp/versions/1/publish")
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None
    assert published.json()["definition"] == second

    # Published means immutable.
    problem(
        mall.put("/v1/surveys/skm-dpmptsp/versions/1", json={"definition": first}),
        409,
        "version-published",
    )
    problem(mall.post("/v1/surveys/skm-dpmptsp/versions/1/publish"), 409, "version-published")
    assert mall.get("/v1/surveys/skm-dpmptsp/versions/1").json() == published.json()

    # A change is a new version, numbered on.
    following = mall.post("/v1/surveys/skm-dpmptsp/versions", json={"definition": first})
    assert following.status_code == 201
    assert (following.json()["version"], following.json()["status"]) == (2, "draft")
    summaries = mall.get("/v1/surveys/skm-dpmptsp").json()["versions"]
    assert [(v["version"], v["status"]) for v in summaries] == [(1, "published"), (2, "draft")]
    assert [v["id"] for v in summaries] == [draft["id"], following.json()["id"]]


def test_unknown_survey_or_version_is_404(mall: TestClient) -> None:
    body = {"definition": variant_definition()}
    problem(mall.get("/v1/surveys/nowhere"), 404, "not-found")
    problem(mall.post("/v1/surveys/nowhere/versions", json=body), 404, "not-found")
    problem(mall.get(f"/v1/surveys/{STANDARD}/versions/2"), 404, "not-found")
    problem(mall.put(f"/v1/surveys/{STANDARD}/versions/2", json=body), 404, "not-found")
    problem(mall.post(f"/v1/surveys/{STANDARD}/versions/2/publish"), 404, "not-found")
    problem(mall.get("/v1/survey-versions/999999"), 404, "not-found")


def _drop(element: str) -> Callable[[dict[str, Any]], None]:
    def change(definition: dict[str, Any]) -> None:
        definition["questions"] = [q for q in definition["questions"] if q["element"] != element]

    return change


def _twice(element: str, instead_of: str) -> Callable[[dict[str, Any]], None]:
    def change(definition: dict[str, Any]) -> None:
        [source] = [q for q in definition["questions"] if q["element"] == element]
        definition["questions"] = [
            copy.deepcopy(source) if q["element"] == instead_of else q
            for q in definition["questions"]
        ]

    return change


def _scores(position: int, *values: int) -> Callable[[dict[str, Any]], None]:
    def change(definition: dict[str, Any]) -> None:
        for option, value in zip(definition["questions"][position]["options"], values, strict=True):
            option["score"] = value

    return change


def _biaya_labels(*labels: str) -> Callable[[dict[str, Any]], None]:
    def change(definition: dict[str, Any]) -> None:
        for option, label in zip(definition["questions"][3]["options"], labels, strict=True):
            option["label"]["id"] = label

    return change


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(definition: dict[str, Any]) -> None:
        target: Any = definition
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "pointer", "code"),
    [
        (_drop("pengaduan"), "/definition/questions", "too_short"),
        (_twice("persyaratan", instead_of="pengaduan"), "/definition", "value_error"),
        (_scores(0, 1, 2, 3, 5), "/definition/questions/0/options/3/score", "less_than_equal"),
        (_scores(0, 0, 2, 3, 4), "/definition/questions/0/options/0/score", "greater_than_equal"),
        (_scores(1, 1, 1, 3, 4), "/definition/questions/1", "value_error"),
        # 'Gratis' scored 1 inverts biaya: refused.
        (
            _biaya_labels("Gratis", "Murah", "Cukup mahal", "Sangat mahal"),
            "/definition/questions/3",
            "value_error",
        ),
        (
            _biaya_labels("Gratis", "Cukup mahal", "Murah", "Tidak gratis"),
            "/definition/questions/3",
            "value_error",
        ),
        (
            _set(("questions", 0, "options"), [{"score": 1, "label": {"id": "Ya"}}] * 3),
            "/definition/questions/0/options",
            "too_short",
        ),
        (
            _set(("questions", 4, "element"), "keramahan"),
            "/definition/questions/4/element",
            "literal_error",
        ),
        (
            _set(("questions", 2, "text", "id"), "x" * 501),
            "/definition/questions/2/text/id",
            "string_too_long",
        ),
        (_set(("title", "id"), "  "), "/definition/title/id", "string_too_short"),
        (
            _set(("profile_fields",), ["gender", "nik"]),
            "/definition/profile_fields/1",
            "literal_error",
        ),
        (_set(("profile_fields",), ["gender", "gender"]), "/definition", "value_error"),
        (_set(("layout",), "grid"), "/definition/layout", "extra_forbidden"),
        (
            _set(("extra_questions",), [extra_question("antrian", "ya", "ya")]),
            "/definition/extra_questions/0",
            "value_error",
        ),
        (
            _set(("extra_questions",), [extra_question("antrian", "ya", "tidak")] * 2),
            "/definition",
            "value_error",
        ),
        (
            _set(("extra_questions",), [extra_question("Antrian", "ya", "tidak")]),
            "/definition/extra_questions/0/key",
            "string_pattern_mismatch",
        ),
    ],
)
def test_definition_against_the_method_is_refused_with_a_pointer(
    mall: TestClient, change: Callable[[dict[str, Any]], None], pointer: str, code: str
) -> None:
    make_variant(mall, "dpmptsp", "skm-dpmptsp", publish=False)
    definition = variant_definition()
    change(definition)
    created = mall.post("/v1/surveys/skm-dpmptsp/versions", json={"definition": definition})
    assert created.status_code == 422, created.text
    assert created.headers["content-type"] == PROBLEM
    assert only_error(created.json()) == (pointer, code)
    # A draft is checked the same way when replaced, and keeps its definition when refused.
    replaced = mall.put("/v1/surveys/skm-dpmptsp/versions/1", json={"definition": definition})
    assert replaced.status_code == 422
    assert only_error(replaced.json()) == (pointer, code)
    assert mall.get("/v1/surveys/skm-dpmptsp/versions/1").json()["definition"] == (
        variant_definition()
    )
    assert len(mall.get("/v1/surveys/skm-dpmptsp").json()["versions"]) == 1


def test_version_without_a_definition_is_refused(mall: TestClient) -> None:
    make_variant(mall, "dpmptsp", "skm-dpmptsp", publish=False)
    refused = mall.post("/v1/surveys/skm-dpmptsp/versions", json={})
    assert refused.status_code == 422
    assert only_error(refused.json()) == ("/definition", "missing")


def test_questions_may_come_in_any_order_and_are_kept_in_that_order(mall: TestClient) -> None:
    definition = variant_definition()
    definition["questions"].reverse()
    version = make_variant(mall, "dpmptsp", "skm-dpmptsp", definition)
    assert [q["element"] for q in version["definition"]["questions"]] == [
        "pengaduan",
        "sarana",
        "perilaku",
        "kompetensi",
        "produk",
        "biaya",
        "waktu",
        "prosedur",
        "persyaratan",
    ]


# --- assigning a version to a unit ---------------------------------------------------------


@pytest.fixture
def variants(mall: TestClient) -> dict[str, int]:
    """Published variants owned by kota and by dpmptsp, and a draft of kota's."""
    kota = make_variant(mall, "kota", "skm-kota")["id"]
    dpmptsp = make_variant(mall, "dpmptsp", "skm-dpmptsp")["id"]
    draft = make_variant(mall, "kota", "skm-kota", publish=False)["id"]
    return {"kota": kota, "dpmptsp": dpmptsp, "draft": draft}


def assign(client: TestClient, unit: str, version_id: int | None) -> Any:
    return client.patch(f"/v1/units/{unit}", json={"survey_version_id": version_id})


@pytest.mark.parametrize(
    ("unit", "version", "code"),
    [
        ("disdukcapil", "draft", "survey_version_not_published"),
        ("kota", "draft", "survey_version_not_published"),
        ("disdukcapil", "dpmptsp", "survey_version_not_allowed"),  # a sibling's variant
        ("kota", "dpmptsp", "survey_version_not_allowed"),  # a descendant's variant
        ("papua", "kota", "survey_version_not_allowed"),  # another tree
    ],
)
def test_assigning_a_version_the_unit_may_not_use_is_refused(
    mall: TestClient, variants: dict[str, int], unit: str, version: str, code: str
) -> None:
    refused = assign(mall, unit, variants[version])
    assert refused.status_code == 422, refused.text
    assert only_error(refused.json()) == ("/survey_version_id", code)
    assert mall.get(f"/v1/units/{unit}").json()["survey_version_id"] is None


def test_assigning_an_unknown_version_is_refused(mall: TestClient) -> None:
    refused = assign(mall, "disdukcapil", 999999)
    assert only_error(refused.json()) == ("/survey_version_id", "unknown_survey_version")


@pytest.mark.parametrize(
    ("unit", "version"),
    [
        ("kota", "kota"),  # its own
        ("disdukcapil", "kota"),  # an ancestor's
        ("mpp", "kota"),
        ("dpmptsp", "dpmptsp"),
    ],
)
def test_assigning_an_own_or_ancestors_published_variant_is_accepted(
    mall: TestClient, variants: dict[str, int], unit: str, version: str
) -> None:
    assigned = assign(mall, unit, variants[version])
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["survey_version_id"] == variants[version]
    assert mall.get(f"/v1/units/{unit}").json()["survey_version_id"] == variants[version]


def test_assignment_is_cleared_with_null_and_the_standard_is_always_assignable(
    mall: TestClient, variants: dict[str, int]
) -> None:
    assert assign(mall, "papua", STANDARD_VERSION_ID).json()["survey_version_id"] == 1
    assert assign(mall, "disdukcapil", variants["kota"]).status_code == 200
    cleared = assign(mall, "disdukcapil", None)
    assert (cleared.status_code, cleared.json()["survey_version_id"]) == (200, None)


def test_a_draft_becomes_assignable_once_published(
    mall: TestClient, variants: dict[str, int]
) -> None:
    assert assign(mall, "mpp", variants["draft"]).status_code == 422
    assert mall.post("/v1/surveys/skm-kota/versions/2/publish").status_code == 200
    assert assign(mall, "mpp", variants["draft"]).json()["survey_version_id"] == variants["draft"]


# --- responses to variants -----------------------------------------------------------------


def test_response_to_a_variant_from_the_owners_subtree_is_stored(
    mall: TestClient, variants: dict[str, int]
) -> None:
    stored = store(mall, response_item("disdukcapil", "ktp", survey_version_id=variants["kota"]))
    assert stored["survey_version_id"] == variants["kota"]


def test_response_to_a_variant_from_outside_the_owners_subtree_is_refused(
    mall: TestClient, variants: dict[str, int]
) -> None:
    for unit, service, version in (
        ("papua", "ktp", "kota"),
        ("disdukcapil", "ktp", "dpmptsp"),  # a sibling's
    ):
        refused = mall.post(
            "/v1/responses",
            json=response_item(unit, service, survey_version_id=variants[version]),
        )
        assert refused.status_code == 422, refused.text
        assert only_error(refused.json()) == ("/survey_version_id", "survey_version_not_allowed")
    assert mall.get("/v1/responses").json()["items"] == []


def test_response_to_a_draft_version_is_refused_until_it_is_published(
    mall: TestClient, variants: dict[str, int]
) -> None:
    item = response_item("disdukcapil", "ktp", survey_version_id=variants["draft"])
    refused = mall.post("/v1/responses", json=item)
    assert refused.status_code == 422
    assert only_error(refused.json()) == ("/survey_version_id", "unknown_survey_version")
    assert mall.post("/v1/surveys/skm-kota/versions/2/publish").status_code == 200
    assert mall.post("/v1/responses", json=item).status_code == 201


@pytest.fixture
def with_extras(mall: TestClient) -> int:
    """A published kota variant with a required and an optional extra question."""
    definition = variant_definition(
        extra_questions=(
            extra_question("antrian", "singkat", "lama", required=True),
            extra_question("info", "spanduk", "media-sosial"),
        )
    )
    version_id: int = make_variant(mall, "kota", "skm-kota", definition)["id"]
    return version_id


@pytest.mark.parametrize(
    ("extra", "pointer", "code"),
    [
        ({"antrian": "singkat", "parkir": "ada"}, "/extra_answers/parkir", "unknown_question"),
        ({"antrian": "sedang"}, "/extra_answers/antrian", "unknown_option"),
        ({"antrian": "singkat", "info": "koran"}, "/extra_answers/info", "unknown_option"),
        ({"info": "spanduk"}, "/extra_answers/antrian", "missing"),
        (None, "/extra_answers/antrian", "missing"),
    ],
)
def test_extra_answers_are_checked_against_the_version(
    mall: TestClient,
    with_extras: int,
    extra: dict[str, str] | None,
    pointer: str,
    code: str,
) -> None:
    item = response_item("disdukcapil", "ktp", survey_version_id=with_extras, extra_answers=extra)
    refused = mall.post("/v1/responses", json=item)
    assert refused.status_code == 422, refused.text
    assert only_error(refused.json()) == (pointer, code)
    assert mall.get("/v1/responses").json()["items"] == []


def test_valid_extra_answers_are_stored(mall: TestClient, with_extras: int) -> None:
    both = {"antrian": "lama", "info": "media-sosial"}
    stored = store(
        mall,
        response_item("disdukcapil", "ktp", survey_version_id=with_extras, extra_answers=both),
    )
    assert stored["extra_answers"] == both
    assert mall.get(f"/v1/responses/{stored['id']}").json()["extra_answers"] == both
    required_only = response_item(
        "disdukcapil", "ktp", survey_version_id=with_extras, extra_answers={"antrian": "singkat"}
    )
    assert store(mall, required_only)["extra_answers"] == {"antrian": "singkat"}


def test_standard_version_has_no_extra_questions(mall: TestClient) -> None:
    refused = mall.post(
        "/v1/responses",
        json=response_item("disdukcapil", "ktp", extra_answers={"antrian": "singkat"}),
    )
    assert only_error(refused.json()) == ("/extra_answers/antrian", "unknown_question")


def test_element_a_variant_marks_optional_may_be_omitted_on_a_kiosk(mall: TestClient) -> None:
    optional = make_variant(
        mall, "kota", "skm-kota", variant_definition(optional=("biaya", "pengaduan"))
    )["id"]
    answers = {k: v for k, v in all_answers(3).items() if k not in ("biaya", "pengaduan")}
    stored = store(
        mall,
        response_item("disdukcapil", "ktp", answers, survey_version_id=optional, channel="kiosk"),
    )
    assert stored["answers"] == {**all_answers(3), "biaya": None, "pengaduan": None}
    # Under the standard, the same answers miss two required elements.
    refused = mall.post("/v1/responses", json=response_item("disdukcapil", "ktp", answers))
    assert refused.status_code == 422
    assert {(e["pointer"], e["code"]) for e in refused.json()["errors"]} == {
        ("/answers/biaya", "missing"),
        ("/answers/pengaduan", "missing"),
    }
    # Only the elements marked optional may be left out.
    without_waktu = {k: v for k, v in answers.items() if k != "waktu"}
    refused = mall.post(
        "/v1/responses",
        json=response_item("disdukcapil", "ktp", without_waktu, survey_version_id=optional),
    )
    assert only_error(refused.json()) == ("/answers/waktu", "missing")
