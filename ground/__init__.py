"""The ground every other layer stands on: the typed configuration and its loader, the base error type, and
small file helpers. It imports nothing of the project, so any layer may import it."""
