"""The ready apps: `python -m apps.translate` (pf-translate) and `python -m apps.image_filters` (pf-image-filters)."""

import os
import sys
from types import TracebackType


def _quiet_interrupt(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    """Ctrl-C before an app's main() takes over (while its modules load) ends it with one line, not a traceback."""
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
    else:
        sys.__excepthook__(kind, value, tb)


# Only when started as a command (`python -m apps...` is still "-m" while the package loads; pf-* scripts).
if sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0] if sys.argv else "").startswith("pf-"):
    sys.excepthook = _quiet_interrupt

from apps.installation import check_installation  # noqa: E402  (after the hook: it takes a moment)

check_installation()
