"""barq: customer services and revenue collection for an electricity distribution company."""

__version__ = "0.1.0"
