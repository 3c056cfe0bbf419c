"""The demo province: ``barq demo`` builds a deterministic, synthetic Lorestan company.

``generator.build_demo`` fills an empty, migrated schema with the 11 districts, their routes, contractors
and contracts, Persian-named customers (people and organisations), premises, subscriptions of every tariff
group, meters and their installations, work orders and one demo login per role. Rows are generated in
Python from one seeded ``random.Random`` and written in chunks with the driver's bulk path (executemany on
SQLite, COPY on PostgreSQL), so 50,000 accounts take seconds and a million (for benchmarks) minutes.
"""
