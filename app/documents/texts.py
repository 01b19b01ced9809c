"""The words of the Laporan SKM and the poster, per language, in one place; and the one way
numbers, dates and periods are written in them (Babel: `88,31` and `30 November 2026` in
Indonesian, `88.31` and `November 30, 2026` in English — never string replacement)."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Final

from babel.core import Locale
from babel.dates import format_date
from babel.numbers import NumberPattern, parse_pattern

from app.method import ELEMENT_NAMES
from app.standard_survey import PROFILE_LABELS, PROFILE_OPTIONS
from app.vocabulary import Language

Lang = Language
LANGS: Final[tuple[Lang, ...]] = ("id", "en")
LOCALES: Final[dict[Lang, str]] = {"id": "id_ID", "en": "en_US"}

ELEMENT_NAMES_EN: Final = {
    "persyaratan": "Requirements",
    "prosedur": "Systems, mechanisms and procedures",
    "waktu": "Completion time",
    "biaya": "Cost/tariff",
    "produk": "Product specification of the service",
    "kompetensi": "Staff competence",
    "perilaku": "Staff conduct",
    "sarana": "Facilities and infrastructure",
    "pengaduan": "Handling of complaints, suggestions and feedback",
}

CHANNEL_NAMES: Final[dict[str, tuple[str, str]]] = {
    "kiosk": ("Kios (layar sentuh)", "Kiosk (touch screen)"),
    "mobile": ("Aplikasi ponsel", "Mobile app"),
    "web": ("Formulir web", "Web form"),
    "paper": ("Kuesioner kertas", "Paper form"),
}

_ROMAN: Final = ("I", "II", "III", "IV")

# Every fixed phrase of both documents. Texts a unit sets (Kata Pengantar, who ran the
# survey, where, who signs) come from its report settings; these are the defaults.
WORDS: Final[dict[str, dict[Lang, str]]] = {
    "report_title": {"id": "LAPORAN HASIL", "en": "REPORT ON THE"},
    "report_title_2": {
        "id": "SURVEI KEPUASAN MASYARAKAT",
        "en": "PUBLIC SATISFACTION SURVEY",
    },
    "period": {"id": "Periode", "en": "Period"},
    "foreword": {"id": "KATA PENGANTAR", "en": "FOREWORD"},
    "default_foreword": {
        "id": "Puji syukur kami panjatkan ke hadirat Tuhan Yang Maha Esa atas tersusunnya "
        "Laporan Hasil Survei Kepuasan Masyarakat (SKM) {unit} periode {period}. Survei ini "
        "dilaksanakan sesuai Peraturan Menteri Pendayagunaan Aparatur Negara dan Reformasi "
        "Birokrasi Nomor 14 Tahun 2017 sebagai bahan evaluasi dan perbaikan kualitas "
        "pelayanan publik.\n\nKami mengucapkan terima kasih kepada seluruh responden dan "
        "pihak yang telah membantu pelaksanaan survei ini. Semoga laporan ini bermanfaat "
        "bagi peningkatan kualitas pelayanan kepada masyarakat.",
        "en": "This is the report on the Public Satisfaction Survey (SKM) of {unit} for "
        "{period}. The survey follows Regulation of the Minister of State Apparatus "
        "Empowerment and Bureaucratic Reform No. 14 of 2017 and serves to evaluate and "
        "improve the quality of public services.\n\nWe thank every respondent and everyone "
        "who helped carry out the survey, and hope this report serves the improvement of "
        "the services we provide.",
    },
    "contents": {"id": "DAFTAR ISI", "en": "CONTENTS"},
    "chapter": {"id": "BAB", "en": "CHAPTER"},
    "ch1": {"id": "PENDAHULUAN", "en": "INTRODUCTION"},
    "ch2": {"id": "PENGUMPULAN DATA", "en": "DATA COLLECTION"},
    "ch3": {"id": "HASIL PENGOLAHAN DATA", "en": "RESULTS"},
    "ch4": {"id": "ANALISIS", "en": "ANALYSIS"},
    "ch5": {"id": "KESIMPULAN", "en": "CONCLUSION"},
    "annexes": {"id": "LAMPIRAN", "en": "ANNEXES"},
    "background": {"id": "Latar Belakang", "en": "Background"},
    "background_text": {
        "id": "Undang-Undang Nomor 25 Tahun 2009 tentang Pelayanan Publik mewajibkan "
        "penyelenggara pelayanan publik melakukan penilaian kinerja secara berkala. Survei "
        "Kepuasan Masyarakat (SKM) mengukur kepuasan masyarakat sebagai pengguna layanan "
        "atas sembilan unsur pelayanan, dan hasilnya menjadi dasar perbaikan pelayanan "
        "{unit}.",
        "en": "Law No. 25 of 2009 on Public Services requires every provider of a public "
        "service to assess its performance regularly. The Public Satisfaction Survey (SKM) "
        "measures the satisfaction of the people served with nine elements of the service; "
        "its results are the basis for improving the services of {unit}.",
    },
    "legal_basis": {"id": "Dasar Hukum", "en": "Legal Basis"},
    "legal_1": {
        "id": "Undang-Undang Nomor 25 Tahun 2009 tentang Pelayanan Publik;",
        "en": "Law No. 25 of 2009 on Public Services;",
    },
    "legal_2": {
        "id": "Peraturan Pemerintah Nomor 96 Tahun 2012 tentang Pelaksanaan Undang-Undang "
        "Nomor 25 Tahun 2009 tentang Pelayanan Publik;",
        "en": "Government Regulation No. 96 of 2012 implementing Law No. 25 of 2009;",
    },
    "legal_3": {
        "id": "Peraturan Menteri PANRB Nomor 14 Tahun 2017 tentang Pedoman Penyusunan Survei "
        "Kepuasan Masyarakat Unit Penyelenggara Pelayanan Publik.",
        "en": "Regulation of the Minister of State Apparatus Empowerment and Bureaucratic "
        "Reform No. 14 of 2017 on Guidelines for Public Satisfaction Surveys of Public "
        "Service Units.",
    },
    "purpose": {"id": "Maksud dan Tujuan", "en": "Purpose"},
    "purpose_text": {
        "id": "Survei ini bertujuan mengetahui tingkat kepuasan masyarakat terhadap pelayanan "
        "{unit}, menemukan unsur pelayanan yang perlu diperbaiki, dan menjadi bahan "
        "penyusunan rencana tindak lanjut.",
        "en": "The survey measures how satisfied the people served by {unit} are, finds the "
        "elements of the service that need improvement, and informs the follow-up plan.",
    },
    "surveyor": {"id": "Pelaksana survei", "en": "Survey carried out by"},
    "default_surveyor": {"id": "Tim SKM {unit}", "en": "SKM team of {unit}"},
    "place": {"id": "Lokasi", "en": "Place"},
    "dates": {"id": "Waktu pelaksanaan", "en": "Dates"},
    "channels": {"id": "Saluran pengumpulan", "en": "Channels used"},
    "channel": {"id": "Saluran", "en": "Channel"},
    "population": {"id": "Populasi (jumlah penerima layanan)", "en": "Population (people served)"},
    "not_recorded": {"id": "tidak dicatat", "en": "not recorded"},
    "minimum_sample": {
        "id": "Sampel minimum (Krejcie dan Morgan)",
        "en": "Minimum sample (Krejcie and Morgan)",
    },
    "respondents": {"id": "Jumlah responden", "en": "Respondents"},
    "respondents_short": {"id": "Responden", "en": "Respondents"},
    "adequate": {"id": "Sampel memadai", "en": "Sample adequate"},
    "yes": {"id": "ya", "en": "yes"},
    "no": {"id": "belum", "en": "not yet"},
    "unknown": {"id": "tidak dapat dinilai", "en": "cannot be judged"},
    "collection_text": {
        "id": "Data dikumpulkan dengan kuesioner sembilan unsur pelayanan; setiap unsur dinilai "
        "dengan skala 1 sampai 4. Setiap jawaban dihitung pada tanggal pengisian menurut zona "
        "waktu unit.",
        "en": "Data were collected with the nine-element questionnaire; each element is "
        "scored from 1 to 4. Each response counts on the day it was given, in the unit's "
        "time zone.",
    },
    "profile": {"id": "Profil Responden", "en": "Respondent Profile"},
    "count": {"id": "Jumlah", "en": "Count"},
    "share": {"id": "Persentase", "en": "Share"},
    "not_given": {"id": "Tidak diisi", "en": "Not given"},
    "ikm_heading": {"id": "Indeks Kepuasan Masyarakat", "en": "Public Satisfaction Index"},
    "ikm": {"id": "IKM", "en": "IKM"},
    "grade": {"id": "Mutu", "en": "Grade"},
    "performance": {"id": "Kinerja unit pelayanan", "en": "Performance of the service unit"},
    "index": {"id": "Nilai indeks (1–4)", "en": "Index (1–4)"},
    "weight": {"id": "Bobot tiap unsur", "en": "Weight of each element"},
    "element_table": {"id": "Nilai per Unsur Pelayanan", "en": "Value per Service Element"},
    "no_": {"id": "No", "en": "No"},
    "element": {"id": "Unsur pelayanan", "en": "Service element"},
    "answers": {"id": "Jawaban", "en": "Answers"},
    "nrr": {"id": "NRR", "en": "Mean (NRR)"},
    "nrr_x25": {"id": "NRR × 25", "en": "NRR × 25"},
    "interval": {"id": "Selang kepercayaan 95%", "en": "95% confidence interval"},
    "interval_none": {
        "id": "tidak dihitung (kurang dari dua responden menjawab kesembilan unsur)",
        "en": "not computed (fewer than two respondents answered all nine elements)",
    },
    "interval_note": {
        "id": "dari {n} responden yang menjawab kesembilan unsur",
        "en": "from the {n} respondents who answered all nine elements",
    },
    "chart_elements": {
        "id": "Gambar 1. NRR per unsur dengan batas mutu (D, C, B, A)",
        "en": "Figure 1. Mean score per element, with the grade bands (D, C, B, A)",
    },
    "chart_trend": {
        "id": "Gambar 2. IKM periode-periode terakhir",
        "en": "Figure 2. IKM over the latest periods",
    },
    "strongest": {"id": "Unsur tertinggi", "en": "Strongest element(s)"},
    "weakest": {
        "id": "Unsur terendah (prioritas perbaikan)",
        "en": "Weakest element(s) (to improve first)",
    },
    "trend": {"id": "Tren", "en": "Trend"},
    "no_data": {"id": "tidak ada data", "en": "no data"},
    "public_note": {
        "id": "Versi publik: angka dari publikasi no. {id}, hanya responden unit ini sendiri; "
        "kelompok dengan kurang dari {min} responden tidak ditampilkan.",
        "en": "Public version: figures of publication no. {id}, this unit's own respondents "
        "only; groups of fewer than {min} respondents are not shown.",
    },
    "groups_hidden": {
        "id": "{n} jenis layanan tidak ditampilkan (terlalu sedikit responden).",
        "en": "{n} service(s) not shown (too few respondents).",
    },
    "by_service": {"id": "Per Jenis Layanan", "en": "By Service"},
    "service": {"id": "Jenis layanan", "en": "Service"},
    "suggestions": {"id": "Saran dan masukan", "en": "Suggestions"},
    "suggestions_text": {
        "id": "{n} responden memberikan saran atau masukan tertulis. Isinya tidak dimuat dalam "
        "laporan ini dan tersedia pada lampiran olah data (workbook) bila diminta.",
        "en": "{n} respondents left a written suggestion. Their text is not part of this "
        "report; it is in the processing workbook when asked for.",
    },
    "conclusion_text": {
        "id": "Berdasarkan {n} responden, IKM {unit} periode {period} adalah {ikm} dengan mutu "
        "pelayanan {mutu} ({kinerja}).",
        "en": "From {n} respondents, the IKM of {unit} for {period} is {ikm}: grade {mutu} "
        "({kinerja}).",
    },
    "conclusion_weakest": {
        "id": "Unsur dengan nilai terendah yang menjadi prioritas rencana tindak lanjut: {names}.",
        "en": "The lowest-scoring element(s), first in the follow-up plan: {names}.",
    },
    "conclusion_strongest": {
        "id": "Unsur dengan nilai tertinggi: {names}.",
        "en": "The highest-scoring element(s): {names}.",
    },
    "conclusion_sample_short": {
        "id": "Jumlah responden ({n}) belum memenuhi sampel minimum ({minimum}); hasil perlu "
        "dibaca dengan hati-hati.",
        "en": "The respondents ({n}) fall short of the minimum sample ({minimum}); read the "
        "result with care.",
    },
    "conclusion_empty": {
        "id": "Belum ada jawaban responden untuk periode ini.",
        "en": "There are no responses for this period.",
    },
    "annex_a": {"id": "Lampiran A. Kuesioner", "en": "Annex A. Questionnaire"},
    "annex_b": {"id": "Lampiran B. Ringkasan Pengolahan Data", "en": "Annex B. Processing Summary"},
    "survey_version": {"id": "Versi kuesioner", "en": "Questionnaire version"},
    "score": {"id": "Nilai", "en": "Score"},
    "total": {"id": "Jumlah nilai", "en": "Sum of scores"},
    "weighted": {"id": "NRR tertimbang", "en": "Weighted NRR"},
    "processing_note": {
        "id": "NRR = jumlah nilai ÷ jumlah jawaban unsur; bobot = 1/{k} (tepat); IKM = Σ(NRR × "
        "1/{k}) × 25. Perhitungan memakai pecahan eksak dan dibulatkan sekali (IKM 2 desimal, "
        "NRR 3 desimal). Indeks eksak: {exact}.",
        "en": "NRR = sum of scores ÷ answers to the element; weight = exactly 1/{k}; IKM = "
        "Σ(NRR × 1/{k}) × 25. Computed with exact fractions, rounded once (IKM 2 decimals, NRR "
        "3 decimals). Exact index: {exact}.",
    },
    "grade_table": {"id": "Tabel mutu pelayanan", "en": "Grade table"},
    "ikm_range": {"id": "Rentang IKM", "en": "IKM range"},
    "flagged_note": {
        "id": "{n} jawaban yang ditandai sebagai dugaan pengisian beruntun tidak dihitung.",
        "en": "{n} responses flagged as suspected bursts are not counted.",
    },
    "source_live": {"id": "data langsung, belum dipublikasikan", "en": "live, not published"},
    "source_published": {
        "id": "publikasi no. {id} ({date})",
        "en": "publication no. {id} ({date})",
    },
    "source": {"id": "Sumber angka", "en": "Figures"},
    "method": {"id": "Metode", "en": "Method"},
    "page": {"id": "Halaman", "en": "Page"},
    "signed": {"id": "{place}, {date}", "en": "{place}, {date}"},
    "data_as_of": {"id": "Data per", "en": "Data as of"},
    "small_sample": {
        "id": "kurang dari 30 responden: sampel kecil",
        "en": "fewer than 30 respondents: a small sample",
    },
    # the poster
    "poster_title": {"id": "INDEKS KEPUASAN MASYARAKAT", "en": "PUBLIC SATISFACTION INDEX"},
    "poster_scan": {"id": "Pindai untuk hasil lengkap", "en": "Scan for the full result"},
    "poster_thanks": {
        "id": "Terima kasih atas penilaian Anda",
        "en": "Thank you for your feedback",
    },
    "poster_elements": {"id": "Nilai per unsur (skala 25–100)", "en": "Element values (25–100)"},
    "poster_respondents": {"id": "{n} responden", "en": "{n} respondents"},
    # Bab IV: follow-up (rencana tindak lanjut) and its evaluation
    "followup_previous": {
        "id": "Rencana Tindak Lanjut {period} dan Evaluasinya",
        "en": "The Follow-up Plan of {period} and its Evaluation",
    },
    "followup_current": {
        "id": "Rencana Tindak Lanjut {period}",
        "en": "The Follow-up Plan of {period}",
    },
    "followup_none_previous": {
        "id": "Tidak ada rencana tindak lanjut untuk {period}.",
        "en": "There is no follow-up plan for {period}.",
    },
    "followup_none_current": {
        "id": "Belum ada rencana tindak lanjut untuk {period}.",
        "en": "There is no follow-up plan for {period} yet.",
    },
    "followup_no_items": {
        "id": "Rencana ini belum berisi butir tindakan.",
        "en": "The plan has no items yet.",
    },
    "followup_plan_items": {"id": "Butir rencana", "en": "Plan items"},
    "followup_evaluation": {
        "id": "Evaluasi: {before} dibandingkan dengan {after}",
        "en": "Evaluation: {before} against {after}",
    },
    "followup_what": {"id": "Unsur / layanan", "en": "Element / service"},
    "followup_action": {"id": "Tindakan", "en": "Action"},
    "followup_responsible": {"id": "Penanggung jawab", "en": "Responsible"},
    "followup_target": {"id": "Target", "en": "Target date"},
    "followup_status": {"id": "Status", "en": "Status"},
    "followup_before": {"id": "Sebelum", "en": "Before"},
    "followup_after": {"id": "Sesudah", "en": "After"},
    "followup_difference": {
        "id": "Selisih [selang 95%]",
        "en": "Difference [95% interval]",
    },
    "followup_verdict": {"id": "Kesimpulan", "en": "Verdict"},
    "followup_service": {"id": "Layanan {code}", "en": "Service {code}"},
    "followup_unit": {"id": "IKM unit", "en": "The unit's IKM"},
    "followup_pair": {"id": "[{a}; {b}]", "en": "[{a}, {b}]"},
    "followup_method": {
        "id": "Sebelum dan sesudah: NRR unsur (skala 1–4) atau IKM (25–100) pada periode "
        "rencana dan periode berikutnya yang sama panjang (n = jumlah jawaban). Selisih = "
        "sesudah − sebelum, dengan selang kepercayaan 95% Welch. Membaik atau memburuk bila "
        "selang tidak memuat 0; tidak ada perubahan yang jelas bila memuat 0; data belum "
        "cukup bila salah satu periode kurang dari 30 jawaban. Dihitung dari data langsung, "
        "jawaban yang ditandai tidak dihitung.",
        "en": "Before and after: the element's NRR (1–4) or the IKM (25–100) in the plan's "
        "period and in the following period of the same length (n = answers). Difference = "
        "after − before, with its 95% Welch interval. Improved or worse when the interval "
        "excludes 0; no clear change when it includes 0; not enough data when either period "
        "has fewer than 30 answers. Computed from the live data, flagged responses left out.",
    },
    "period_year": {"id": "Tahun {y}", "en": "Year {y}"},
    "period_semester": {"id": "Semester {r} Tahun {y}", "en": "Semester {n}, {y}"},
    "period_quarter": {"id": "Triwulan {r} Tahun {y}", "en": "Quarter {n}, {y}"},
    "period_range": {"id": "{a} s.d. {b}", "en": "{a} to {b}"},
}

# A follow-up item's status and an evaluation's verdict (app.vocabulary), as Bab IV writes them.
STATUS_NAMES: Final[dict[str, dict[Lang, str]]] = {
    "planned": {"id": "direncanakan", "en": "planned"},
    "in_progress": {"id": "sedang berjalan", "en": "in progress"},
    "done": {"id": "selesai", "en": "done"},
    "dropped": {"id": "dibatalkan", "en": "dropped"},
}
VERDICT_NAMES: Final[dict[str, dict[Lang, str]]] = {
    "improved": {"id": "membaik", "en": "improved"},
    "worse": {"id": "memburuk", "en": "worse"},
    "no_clear_change": {"id": "tidak ada perubahan yang jelas", "en": "no clear change"},
    "not_enough_data": {"id": "data belum cukup", "en": "not enough data"},
}

# The grade labels as a poster writes them (kinerja unit pelayanan).
GRADE_LABELS: Final[dict[str, dict[Lang, str]]] = {
    "A": {"id": "Sangat Baik", "en": "Very Good"},
    "B": {"id": "Baik", "en": "Good"},
    "C": {"id": "Kurang Baik", "en": "Poor"},
    "D": {"id": "Tidak Baik", "en": "Very Poor"},
}


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


@cache
def _pattern(places: int) -> NumberPattern:
    """Babel's number pattern with a group separator and exactly `places` decimals, parsed
    once (what `format_decimal` parses again on every call)."""
    return parse_pattern("#,##0" + ("." + "0" * places if places else ""))


@cache
def _signed(places: int, plus: bool) -> NumberPattern:
    digits = "#,##0" + ("." + "0" * places if places else "")
    return parse_pattern(f"{'+' if plus else ''}{digits};\u2212{digits}")


@dataclass(frozen=True)
class Words:
    """One language's words and its way of writing numbers and dates."""

    lang: Lang

    def __call__(self, key: str, **values: object) -> str:
        text = WORDS[key][self.lang]
        return text.format(**values) if values else text

    @property
    def locale(self) -> str:
        return LOCALES[self.lang]

    def number(self, value: float | int | Decimal | None, places: int = 2) -> str:
        """A figure already rounded by the method (half-up), written with exactly `places`
        decimals: the value is never rounded again here."""
        if value is None:
            return "–"
        return str(_pattern(places).apply(Decimal(str(value)), _locale(self.locale)))

    def signed(self, value: float | None, places: int, plus: bool = False) -> str:
        """A difference or an interval's bound, already rounded by the method, with a true
        minus sign (U+2212) — a Babel pattern's negative part — and `+` when `plus`."""
        if value is None:
            return "–"
        return str(_signed(places, plus).apply(Decimal(str(value)), _locale(self.locale)))

    def status(self, key: str) -> str:
        return STATUS_NAMES[key][self.lang]

    def verdict(self, key: str) -> str:
        return VERDICT_NAMES[key][self.lang]

    def count(self, value: int) -> str:
        return str(_pattern(0).apply(value, _locale(self.locale)))

    def percent(self, part: int, whole: int) -> str:
        if whole == 0:
            return "–"
        share = Decimal(part * 1000 // whole + (1 if (part * 1000 % whole) * 2 >= whole else 0))
        return self.number(share / 10, 1) + " %"

    def day(self, value: date) -> str:
        return format_date(value, format="long", locale=self.locale)

    def element(self, key: str) -> str:
        return ELEMENT_NAMES[key] if self.lang == "id" else ELEMENT_NAMES_EN[key]

    def grade_label(self, mutu: str) -> str:
        return GRADE_LABELS[mutu][self.lang]

    def profile_field(self, field: str) -> str:
        return PROFILE_LABELS[field][0 if self.lang == "id" else 1]

    def profile_option(self, field: str, key: str | None) -> str:
        if key is None:
            return self("not_given")
        labels = PROFILE_OPTIONS[field].get(key)
        return key if labels is None else labels[0 if self.lang == "id" else 1]

    def channel(self, key: str | None) -> str:
        if key is None:
            return self("not_given")
        names = CHANNEL_NAMES.get(key)
        return key if names is None else names[0 if self.lang == "id" else 1]

    def period(self, label: str | None, start: date, end: date) -> str:
        """'Triwulan III Tahun 2026', 'Quarter 3, 2026', 'November 2026', or a range of days."""
        if label is None:
            return self("period_range", a=self.day(start), b=self.day(end))
        if len(label) == 4:
            return self("period_year", y=label)
        year, part = label.split("-")
        if part[0] in "QS":
            number = int(part[1])
            key = "period_quarter" if part[0] == "Q" else "period_semester"
            return self(key, y=year, n=number, r=_ROMAN[number - 1])
        return format_date(start, format="MMMM y", locale=self.locale)
