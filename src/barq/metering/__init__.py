"""Meters and their registers; later reading orders, reads, validation, estimates and scorecards."""
