"""Meter reading (تشخیص و توزیع): routes and cycles, reading orders, reads arriving, exceptions, scorecards."""
