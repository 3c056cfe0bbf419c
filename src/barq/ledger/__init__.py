"""The ledger: the one truth about who owes what (architecture rule 4, domain.md §6).

It owns the chart of accounts, the double-entry entries and their postings (debit positive, every entry sums
to zero, append-only: a mistake is reversed by a new entry), and what is derived from them: balances,
settlement of the oldest debt first, and aging. ``postings`` is the pure core; the ledger imports no other
capability.
"""
