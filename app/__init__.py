"""threadwatch: a Redis-backed thread-status service compatible with the LangGraph threads API."""

__version__ = "0.1.0"
