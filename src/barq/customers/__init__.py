"""Customers (persons and organisations), their contacts, and premises (the places supplied)."""
