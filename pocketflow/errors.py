"""The package's own exception type, so callers can tell flow misconfiguration from their nodes' errors."""


class FlowError(Exception):
    """Base class for errors raised by pocketflow itself (bad arguments, misuse of an API)."""
