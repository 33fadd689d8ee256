"""The base of every error deeprag reports to a user as one line, and the configuration's own error.

Each layer defines its own subclasses (ingest.errors, generation.llm, eval.datasets, ...); the CLI and the UI
catch ``DeepragError`` alone and print its message, which says what went wrong and how to fix it.
"""


class DeepragError(Exception):
    """Base of every error deeprag reports to a user as one line."""


class ConfigError(DeepragError, ValueError):
    """A configuration value that cannot be used; the message names the key, the value and what is allowed."""
