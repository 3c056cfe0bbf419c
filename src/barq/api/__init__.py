"""The JSON API under /api/v1 for integrations (banks, handhelds, other systems), with OpenAPI."""
