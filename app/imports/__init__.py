"""Paper forms: sheet codes, the import template, reading, checking and storing imported rows."""
