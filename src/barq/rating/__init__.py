"""Rating: tariff books and the pricing of electricity bills (domain.md §3).

This package owns:

- ``book``: tariff books, effective-dated price data loaded from ``barq/data/tariffs/*.toml`` and
  validated into frozen dataclasses (``load_book``, ``load_books`` → ``TariffLibrary``);
- ``engine``: the scalar engine that prices one bill and explains every line (``rate_bill``);
- ``vector``: the numpy engine that prices many bills with the same result to the rial (``rate_bills``);
- ``quote``: validation of a hypothetical consumption for the public bill calculator (``quote``).

``book``, ``engine`` and ``vector`` are pure: no database, no web framework. No price is written in code.
"""
