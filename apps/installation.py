"""Stop with one clear line when another distribution's files are mixed into, or shadow, our top-level packages.

pip puts every distribution into one site-packages and silently lets a later one overwrite files at the same path,
so a distribution that ships its own top-level `utils`, `apps` or `pocketflow` (upstream PocketFlow does) breaks
the apps with an ImportError far from the cause. Checked once when `apps` is imported; cheap (a RECORD scan of
the folder we are installed in, nothing in a checkout).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import TracebackType

OURS = "pocketflow-parallel"
PACKAGES = ("apps", "utils", "pocketflow")
FIX = f"install {OURS} in a virtual environment of its own (see the README's install section)"


class InstallationError(ImportError):
    """Another distribution shares or shadows one of this project's top-level packages."""


@functools.cache
def installation_problem() -> str | None:
    """Why the apps would break here, naming the distribution responsible; None when the installation is sound."""
    root = Path(__file__).resolve().parent.parent
    for name in PACKAGES[1:]:
        try:
            spec = importlib.util.find_spec(name)
        except ValueError:  # already imported, without a spec (made at run time): nothing to say about its files
            continue
        origin = Path(spec.origin).resolve() if spec is not None and spec.origin else None
        if origin is None or origin.parent != root / name:
            found = "no module" if spec is None else (str(origin) if origin else "a namespace folder")
            owners = _owners(origin.parent.parent, name) if origin else []
            if owners:
                return f"'import {name}' finds {found} (installed by {', '.join(owners)}) instead of {OURS}'s: {FIX}"
            return (f"'import {name}' finds {found} instead of {OURS}'s {root / name}: run from another folder "
                    f"(or the installed command), or rename that {name}")  # fmt: skip
    sharing = {owner: packages for owner, packages in _sharers(root).items() if owner != OURS}
    if sharing:
        owner, packages = next(iter(sharing.items()))
        return (
            f"the distribution {owner!r} installed files into {OURS}'s top-level package(s) "
            f"{', '.join(sorted(packages))} in {root}, and pip lets them overwrite each other: {FIX}, "
            f"or run `pip uninstall {owner}` and then `pip install --force-reinstall --no-deps {OURS}`"
        )
    return None


def check_installation() -> None:
    """Raise InstallationError for a broken installation; uncaught, it prints as one line without a traceback."""
    problem = installation_problem()
    if problem is None:
        return
    previous = sys.excepthook

    def one_line(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if isinstance(error, InstallationError):
            print(f"error: {error}", file=sys.stderr)
        else:
            previous(kind, error, tb)

    sys.excepthook = one_line
    raise InstallationError(problem)


def _sharers(folder: Path) -> dict[str, set[str]]:
    """Distribution name -> our top-level package names it has files in, for distributions installed in `folder`."""
    found: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions(path=[str(folder)]):
        record = "\n" + (dist.read_text("RECORD") or "")
        if not any(f"\n{name}/" in record for name in PACKAGES):  # a cheap look before parsing it
            continue
        packages = {file.parts[0] for file in dist.files or () if len(file.parts) > 1 and file.parts[0] in PACKAGES}
        if packages:
            found[dist.metadata["Name"]] = packages
    return found


def _owners(folder: Path, package: str) -> list[str]:
    return sorted(owner for owner, packages in _sharers(folder).items() if package in packages)
