"""Contractors (agencies) and their contracts per district and work type; later their scorecards."""
