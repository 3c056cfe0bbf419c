"""Users, roles and permissions, scopes (district, contractor), sessions, API keys."""
