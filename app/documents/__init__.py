"""Documents an officer files: the processing workbook (XLSX), reports and posters."""
