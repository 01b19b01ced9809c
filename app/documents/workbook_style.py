"""The processing workbook's presentation: its texts in Indonesian and English (each text
once, both languages side by side), its cell formats, and spreadsheet days."""

from datetime import date
from typing import Final

from xlsxwriter import Workbook

from app.vocabulary import Language as Language

EPOCH: Final = date(1899, 12, 30)  # spreadsheet day 0

# Every text of the workbook, (Indonesian, English).
TEXTS: Final[dict[str, tuple[str, str]]] = {
    "title": ("Olah Data Survei Kepuasan Masyarakat", "SKM processing workbook"),
    "summary_sheet": ("Ringkasan", "Summary"),
    "profile_sheet": ("Profil", "Profile"),
    "services_sheet": ("Layanan", "Services"),
    "channels_sheet": ("Kanal", "Channels"),
    "method_sheet": ("Metode", "Method"),
    "suggestions_sheet": ("Saran", "Suggestions"),
    "unit": ("Unit", "Unit"),
    "period": ("Periode", "Period"),
    "source": ("Sumber angka", "Figures from"),
    "live": ("langsung (live), belum dipublikasikan", "live, not published"),
    "published": ("publikasi", "publication"),
    "published_at": ("diterbitkan", "published"),
    "differs": (
        "langsung (live); berbeda dari publikasi",
        "live; differs from publication",
    ),
    "method": ("Metode", "Method"),
    "updated": ("Data terakhir berubah (UTC)", "Data last changed (UTC)"),
    "respondents": ("Jumlah responden", "Respondents"),
    "no": ("No", "No"),
    "key": ("Kode", "Key"),
    "element": ("Unsur", "Element"),
    "total": ("Jumlah nilai", "Sum of scores"),
    "count": ("Jumlah jawaban", "Answers"),
    "nrr": ("NRR", "NRR"),
    "nrr3": ("NRR (3 desimal)", "NRR (3 dp)"),
    "weight": ("Bobot", "Weight"),
    "weighted": ("NRR tertimbang", "Weighted NRR"),
    "x25": ("NRR × 25", "NRR × 25"),
    "grade": ("Mutu", "Grade"),
    "helper": ("bantu", "helper"),
    "k": ("Unsur terjawab (k)", "Elements answered (k)"),
    "sum_weighted": ("Σ NRR tertimbang", "Σ weighted NRR"),
    "index": ("Indeks (1–4, 3 desimal)", "Index (1–4, 3 dp)"),
    "ikm": ("IKM (indeks × 25, 2 desimal)", "IKM (index × 25, 2 dp)"),
    "kinerja": ("Kinerja unit pelayanan", "Service unit performance"),
    "rounding_note": (
        "Pembulatan setengah ke atas dengan bilangan bulat (tanpa galat pecahan biner): "
        "88,305 menjadi 88,31 (A).",
        "Half-up rounding done in integers (no binary-fraction error): 88.305 becomes 88.31 (A).",
    ),
    "data": ("Data", "Data"),
    "date": ("Tanggal", "Date"),
    "service": ("Layanan", "Service"),
    "channel": ("Kanal", "Channel"),
    "sum_row": ("Jumlah nilai per unsur", "Sum of scores per element"),
    "count_row": ("Jumlah jawaban per unsur", "Answers per element"),
    "nrr_row": ("NRR per unsur", "NRR per element"),
    "weighted_row": ("NRR tertimbang (NRR × 1/k)", "Weighted NRR (NRR × 1/k)"),
    "see_summary": ("IKM: lihat lembar Ringkasan", "IKM: see the Summary sheet"),
    "split": (
        "Periode melebihi batas baris satu lembar kerja: data dibagi per bulan, satu lembar "
        "per bulan; Ringkasan menjumlahkan semua lembar.",
        "The period has more respondents than a sheet holds: one data sheet per month; the "
        "Summary adds them all up.",
    ),
    "profile": ("Profil responden", "Respondent profile"),
    "share": ("Persentase", "Share"),
    "blank": ("Tidak diisi", "Not given"),
    "services": ("Per layanan", "By service"),
    "channels": ("Per kanal", "By channel"),
    "responses": ("Responden", "Respondents"),
    "methodology": ("Metode", "Method"),
    "regulation": ("Peraturan", "Regulation"),
    "weighting": ("Pembobotan", "Weighting"),
    "rounding": ("Pembulatan", "Rounding"),
    "grades": ("Tabel mutu", "Grade table"),
    "ikm_from": ("IKM mulai", "IKM from"),
    "sample": ("Ukuran sampel", "Sample size"),
    "population": ("Populasi (orang dilayani)", "Population (people served)"),
    "minimum": ("Sampel minimum (Krejcie & Morgan)", "Minimum sample (Krejcie & Morgan)"),
    "obtained": ("Responden diperoleh", "Respondents obtained"),
    "adequate": ("Memadai", "Adequate"),
    "yes": ("Ya", "Yes"),
    "not_yet": ("Belum", "Not yet"),
    "unknown": ("populasi belum dicatat", "population not recorded"),
    "excluded": ("Tidak dihitung", "Not counted"),
    "order": (
        "Baris diurutkan menurut tanggal lokal, lalu waktu pengisian.",
        "Rows are ordered by local day, then by time of collection.",
    ),
    "suggestions": ("Saran", "Suggestions"),
    "suggestion": ("Saran/masukan", "Suggestion"),
}


def text(key: str, lang: Language) -> str:
    indonesian, english = TEXTS[key]
    return indonesian if lang == "id" else english


class Formats:
    """The cell formats of one workbook."""

    def __init__(self, book: Workbook, lang: Language) -> None:
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.bold = book.add_format({"bold": True})
        self.head = book.add_format(
            {"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True}
        )
        self.date = book.add_format({"num_format": "dd/mm/yyyy" if lang == "id" else "yyyy-mm-dd"})
        self.long_date = book.add_format(
            {"num_format": "[$-421]d mmmm yyyy" if lang == "id" else "[$-809]d mmmm yyyy"}
        )
        self.int = book.add_format({"num_format": "0"})
        self.nrr = book.add_format({"num_format": "0.000"})
        self.six = book.add_format({"num_format": "0.000000"})
        self.ikm = book.add_format({"num_format": "0.00"})
        self.weight = book.add_format({"num_format": "?/?"})
        self.share = book.add_format({"num_format": "0.0%"})
        self.headline = book.add_format({"bold": True, "font_size": 14, "num_format": "0.00"})
        self.headline_text = book.add_format({"bold": True, "font_size": 14})
        self.note = book.add_format({"italic": True, "font_color": "#595959"})
        self.helper = book.add_format({"font_color": "#7F7F7F", "text_wrap": True})


def day(value: date) -> int:
    """A date as the spreadsheet's day number (formatted as a date where it is written)."""
    return (value - EPOCH).days
