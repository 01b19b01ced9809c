"""Documents an SKM officer files and displays: workbook, Laporan SKM, poster."""
