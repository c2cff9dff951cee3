"""The package's own exception type, and warnings that name the user's line rather than ours."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

_PACKAGE = os.path.join(Path(__file__).parent, "")  # as frames name our files, symlinks and all


class FlowError(ValueError):
    """Raised by pocketflow itself for bad arguments or misuse of its API (never for a node's own errors)."""


def warn(message: str) -> None:
    """A UserWarning attributed to the first caller outside this package: the user's line, not ours."""
    level, frame = 2, sys._getframe(1)  # stacklevel 2 is warn()'s caller
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, UserWarning, stacklevel=level)
