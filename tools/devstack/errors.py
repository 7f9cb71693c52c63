"""The one error the runner raises: something the stack needs did not start."""


class StackError(RuntimeError):
    """Something the stack needs did not start; the message says what and where to look."""
