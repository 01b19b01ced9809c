"""The standard SKM questionnaire of PermenPAN-RB 14/2017, and the respondent profile bands.

Bahasa Indonesia is the text shown; English is alongside for readers of the API.
The built-in survey is seeded by the initial migration and is never edited in place:
a change to the standard would be a new version, in a new migration.
"""

from typing import Any, Final

from app.vocabulary import PROFILE_FIELDS

STANDARD_SURVEY_CODE: Final = "skm-permenpan-14-2017"
STANDARD_SURVEY_TITLE: Final = "Survei Kepuasan Masyarakat (PermenPAN-RB 14/2017)"


def _q(element: str, text_id: str, text_en: str, labels: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "element": element,
        "text": {"id": text_id, "en": text_en},
        "required": True,
        "options": [
            {"score": score, "label": {"id": label_id, "en": label_en}}
            for score, (label_id, label_en) in enumerate(labels, start=1)
        ],
    }


_SUITABILITY = [
    ("Tidak sesuai", "Not suitable"),
    ("Kurang sesuai", "Less suitable"),
    ("Sesuai", "Suitable"),
    ("Sangat sesuai", "Very suitable"),
]

STANDARD_DEFINITION: Final[dict[str, Any]] = {
    "title": {"id": "Survei Kepuasan Masyarakat", "en": "Public Satisfaction Survey"},
    "intro": {
        "id": "Mohon berikan penilaian Saudara atas pelayanan yang baru saja Saudara terima.",
        "en": "Please rate the service you have just received.",
    },
    "questions": [
        _q(
            "persyaratan",
            "Bagaimana pendapat Saudara tentang kesesuaian persyaratan pelayanan dengan jenis "
            "pelayanannya?",
            "How well do the service requirements suit the type of service?",
            _SUITABILITY,
        ),
        _q(
            "prosedur",
            "Bagaimana pemahaman Saudara tentang kemudahan prosedur pelayanan di unit ini?",
            "How easy are the service procedures at this unit?",
            [
                ("Tidak mudah", "Not easy"),
                ("Kurang mudah", "Less easy"),
                ("Mudah", "Easy"),
                ("Sangat mudah", "Very easy"),
            ],
        ),
        _q(
            "waktu",
            "Bagaimana pendapat Saudara tentang kecepatan waktu dalam memberikan pelayanan?",
            "How fast was the service delivered?",
            [
                ("Tidak cepat", "Not fast"),
                ("Kurang cepat", "Less fast"),
                ("Cepat", "Fast"),
                ("Sangat cepat", "Very fast"),
            ],
        ),
        _q(
            "biaya",
            "Bagaimana pendapat Saudara tentang kewajaran biaya/tarif dalam pelayanan?",
            "How reasonable are the service fees?",
            [
                ("Sangat mahal", "Very expensive"),
                ("Cukup mahal", "Fairly expensive"),
                ("Murah", "Cheap"),
                ("Gratis", "Free of charge"),
            ],
        ),
        _q(
            "produk",
            "Bagaimana pendapat Saudara tentang kesesuaian produk pelayanan antara yang "
            "tercantum dalam standar pelayanan dengan hasil yang diberikan?",
            "How well does the service product match what the service standard states?",
            _SUITABILITY,
        ),
        _q(
            "kompetensi",
            "Bagaimana pendapat Saudara tentang kompetensi/kemampuan petugas dalam pelayanan?",
            "How competent were the staff who served you?",
            [
                ("Tidak kompeten", "Not competent"),
                ("Kurang kompeten", "Less competent"),
                ("Kompeten", "Competent"),
                ("Sangat kompeten", "Very competent"),
            ],
        ),
        _q(
            "perilaku",
            "Bagaimana pendapat Saudara perilaku petugas dalam pelayanan terkait kesopanan dan "
            "keramahan?",
            "How polite and friendly were the staff?",
            [
                ("Tidak sopan dan ramah", "Not polite and friendly"),
                ("Kurang sopan dan ramah", "Less polite and friendly"),
                ("Sopan dan ramah", "Polite and friendly"),
                ("Sangat sopan dan ramah", "Very polite and friendly"),
            ],
        ),
        _q(
            "sarana",
            "Bagaimana pendapat Saudara tentang kualitas sarana dan prasarana?",
            "How good are the facilities and infrastructure?",
            [
                ("Buruk", "Poor"),
                ("Cukup", "Fair"),
                ("Baik", "Good"),
                ("Sangat baik", "Very good"),
            ],
        ),
        _q(
            "pengaduan",
            "Bagaimana pendapat Saudara tentang penanganan pengaduan pengguna layanan?",
            "How are complaints from service users handled?",
            [
                ("Tidak ada", "None exists"),
                ("Ada tetapi tidak berfungsi", "Exists but does not work"),
                ("Berfungsi kurang maksimal", "Works, but not fully"),
                ("Dikelola dengan baik", "Well managed"),
            ],
        ),
    ],
    "extra_questions": [],
    "profile_fields": list(PROFILE_FIELDS),
    "suggestion_prompt": {
        "id": "Saran/masukan untuk perbaikan pelayanan (opsional)",
        "en": "Suggestions for improving the service (optional)",
    },
}

# Coarse respondent profile bands: code -> (Bahasa Indonesia, English). Shared by every survey
# version so that breakdowns compare across versions.
PROFILE_OPTIONS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "gender": {"L": ("Laki-laki", "Male"), "P": ("Perempuan", "Female")},
    "age_band": {
        "<20": ("Di bawah 20 tahun", "Under 20"),
        "20-29": ("20–29 tahun", "20–29"),
        "30-39": ("30–39 tahun", "30–39"),
        "40-49": ("40–49 tahun", "40–49"),
        "50-59": ("50–59 tahun", "50–59"),
        "60+": ("60 tahun ke atas", "60 and over"),
    },
    "education": {
        "SD": ("SD", "Primary school"),
        "SMP": ("SMP", "Junior high school"),
        "SMA": ("SMA/SMK", "Senior high school"),
        "D1-D3": ("D1–D3", "Diploma (D1–D3)"),
        "D4-S1": ("D4/S1", "Bachelor (D4/S1)"),
        "S2": ("S2", "Master (S2)"),
        "S3": ("S3", "Doctorate (S3)"),
    },
    "occupation": {
        "PNS": ("PNS", "Civil servant"),
        "TNI": ("TNI", "Armed forces"),
        "POLRI": ("POLRI", "Police"),
        "SWASTA": ("Pegawai swasta", "Private employee"),
        "WIRAUSAHA": ("Wirausaha", "Self-employed"),
        "LAINNYA": ("Lainnya", "Other"),
    },
}

PROFILE_LABELS: Final[dict[str, tuple[str, str]]] = {
    "gender": ("Jenis kelamin", "Gender"),
    "age_band": ("Umur", "Age"),
    "education": ("Pendidikan terakhir", "Education"),
    "occupation": ("Pekerjaan utama", "Occupation"),
}
