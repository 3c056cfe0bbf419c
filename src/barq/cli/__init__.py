"""The `barq` command: setup, demo, serving, support tools, and (later) long-running batch work."""
