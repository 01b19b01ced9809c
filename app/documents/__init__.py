"""Documents the service prints or hands out: the processing workbook, the Laporan SKM, the
poster, the printable questionnaire."""
