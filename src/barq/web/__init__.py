"""Staff and public pages: Persian, right to left, server-rendered Jinja2 with htmx."""
