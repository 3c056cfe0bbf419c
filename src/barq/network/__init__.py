"""The company's organisation and geography: company, district offices, climate zones, routes."""
