"""Read-only queries across capabilities: the search box, lists and their Excel exports."""
