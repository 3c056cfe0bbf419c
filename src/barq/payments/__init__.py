"""Payments: money coming in by bill ID and payment ID, from banks (files and API notifications), the counter
and the portal; matching to open bills, suspense for what matches nothing, and bounced payments. Every
payment is posted to the ledger through ``barq.ledger``; the same trace from the same channel is posted once.
"""
