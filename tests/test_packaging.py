"""The wheel as a user gets it: built from this tree, installed into fresh virtual environments, run elsewhere.

Fast and offline without faking the install: `pip wheel --no-build-isolation` builds with the setuptools of the
running environment (a dev dependency), and `pip --python NEW_VENV install --no-deps` installs the real wheel into
a venv made without pip. The new venv gets the running environment's site-packages through a `.pth` file, so the
runtime dependencies (openai, Pillow, ...) need no download; a `.pth` line only appends a folder to sys.path (it
does not run the editable install's hooks in there), so `apps`, `utils` and `pocketflow` come from the wheel,
which the tests check.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "pocketflow", "utils", "apps", "benchmarks")
RUNTIME_ONLY_FOR_EXTRAS = ("httpx2", "aiohttp", "matplotlib", "pytest")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy: building in the shared tree would write build/ and egg-info into it
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", ".*"))
        elif (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    pip(["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work / "dist"), str(source)])
    [built] = (work / "dist").glob("pocketflow_parallel-*.whl")
    return built


def test_the_wheel_holds_the_library_and_apps_not_the_benchmarks(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = email.message_from_bytes(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"pocketflow", "utils", "apps", "pocketflow_parallel-0.1.0.dist-info"}
    assert "pocketflow/py.typed" in names and "utils/env.example" in names
    assert any(name.startswith("apps/image_filters/samples/") and name.endswith(".jpg") for name in names)
    required = metadata.get_all("Requires-Dist") or []
    unconditional = [line.split(";")[0] for line in required if "extra ==" not in line]
    assert any(line.startswith("openai") for line in unconditional)
    assert not [line for line in unconditional if line.startswith(RUNTIME_ONLY_FOR_EXTRAS)], unconditional
    assert any(line.startswith("aiohttp") and "extra == \"server\"" in line for line in required)
    assert metadata.get_all("Classifier") and metadata.get_all("Project-URL")


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("venv"), [wheel])


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder that has nothing to do with the checkout, with one small Markdown file."""
    (tmp_path / "notes.md").write_text("# Notes\n\nA paragraph to translate, with `code` kept.\n", encoding="utf-8")
    return tmp_path


def test_installed_commands_run_from_an_unrelated_folder(venv: Path, elsewhere: Path) -> None:
    where = run(venv, ["python", "-c", "import apps, utils, pocketflow; print(apps.__file__, utils.__file__, "
                       "pocketflow.__file__)"], elsewhere)  # fmt: skip
    site = site_packages(venv)
    assert where.returncode == 0, where.stderr
    assert all(Path(path).is_relative_to(site) for path in where.stdout.split()), where.stdout

    plan = run(venv, ["pf-translate", "--dry-run", "notes.md", "-l", "fr,ja"], elsewhere)
    assert plan.returncode == 0, plan.stderr
    assert "notes.md" in plan.stdout and "2 requests" in plan.stdout and "nothing was sent" in plan.stdout
    assert not (elsewhere / "translations").exists() and not (elsewhere / ".cache").exists()

    filters = run(venv, ["pf-image-filters", "--list-filters"], elsewhere)
    assert filters.returncode == 0, filters.stderr
    assert "grayscale" in filters.stdout and "thumbnail" in filters.stdout

    version = run(venv, ["pf-image-filters", "--version"], elsewhere)
    assert version.stdout.strip() == "pf-image-filters (pocketflow-parallel 0.1.0)"
    usage = run(venv, ["pf-translate", "--no-such-option"], elsewhere)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: pf-translate ")


EXERCISE = """
import contextlib, io, sys
from PIL import Image
from apps.image_filters.__main__ import main as image_filters
from apps.translate.__main__ import main as translate
Image.new("RGB", (64, 48), "teal").save("photo.png")
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    assert translate(["notes.md", "-l", "fr,ja", "--provider", "offline", "-q"]) == 0
    assert image_filters(["photo.png", "-f", "grayscale,blur,sharpen,edges,resize:width=32", "-o", "out", "-q"]) == 0
used = {name.split(".")[0] for name in list(sys.modules)} - set(sys.stdlib_module_names)

import importlib.metadata as md
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

declared, todo = set(), ["pocketflow-parallel"]
while todo:
    name = canonicalize_name(todo.pop())
    if name not in declared:
        declared.add(name)
        for line in md.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
owners = md.packages_distributions()  # tornado: tenacity imports it when installed (here: by dask's distributed)
for module in sorted(used):
    found = {canonicalize_name(d) for d in owners.get(module, [])}
    if not found & declared and not module.startswith("_") and module not in ("__main__", "tornado"):
        print(module, sorted(found) or "no distribution")
"""


def test_what_the_apps_import_is_what_the_wheel_declares(venv: Path, elsewhere: Path) -> None:
    """Run both apps for real, then every imported module must come from the wheel's runtime dependency closure:
    nothing undeclared (OpenCV, say), and nothing only an extra brings (aiohttp, matplotlib)."""
    result = run(venv, ["python", "-c", EXERCISE], elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"imported at run time but not a runtime dependency:\n{result.stdout}"
    assert (elsewhere / "translations" / "notes.ja.md").exists() and (elsewhere / "out").is_dir()


def test_the_loopback_server_without_its_extra_names_the_extra(venv: Path, elsewhere: Path) -> None:
    hide_aiohttp = "import sys; sys.modules['aiohttp'] = None; import utils.llm_server"  # as if not installed
    result = run(venv, ["python", "-c", hide_aiohttp], elsewhere)
    assert result.returncode == 1
    assert "utils.llm_server needs aiohttp: pip install 'pocketflow-parallel[server]'" in result.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly(venv: Path, elsewhere: Path) -> None:
    """`pf-translate --dry-run | head -1`, made deterministic: the reader is gone before the first write."""
    command = [str(venv / "bin" / "pf-translate"), "--dry-run", "notes.md"]
    proc = subprocess.Popen(command, cwd=elsewhere, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    errors = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141  # 128 + SIGPIPE, as the shell reports for other tools
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


def test_a_foreign_utils_package_stops_the_apps_with_one_line(wheel: Path, tmp_path: Path) -> None:
    """Another distribution ships a top-level `utils` and pip silently overwrites our files with its own."""
    other = fake_wheel(tmp_path, "toolbox-utils", "1.0", {"utils/__init__.py": "", "utils/config.py": "X = 1\n"})
    venv = make_venv(tmp_path / "venv", [wheel, other])
    for command in (["pf-translate", "--dry-run", "notes.md"], ["pf-image-filters", "--list-filters"]):
        result = run(venv, command, tmp_path)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
        assert "'toolbox-utils'" in result.stderr and "virtual environment of its own" in result.stderr


def test_a_foreign_apps_package_is_named_too(wheel: Path, tmp_path: Path) -> None:
    """Its apps/__init__.py replaces ours, so the check has to run from a module it cannot have replaced."""
    other = fake_wheel(tmp_path, "myapps", "2.0", {"apps/__init__.py": "", "apps/settings.py": "DEBUG = True\n"})
    venv = make_venv(tmp_path / "venv", [wheel, other])
    result = run(venv, ["pf-image-filters", "--list-filters"], tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "the distribution 'myapps' installed files into pocketflow-parallel's top-level package(s) apps" in (
        result.stderr
    )


def test_a_utils_folder_earlier_on_the_path_is_named(venv: Path, tmp_path: Path) -> None:
    """`python -m apps.translate` from a project of the user's that has its own `utils` package."""
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "__init__.py").write_text("")
    result = run(venv, ["python", "-m", "apps.translate", "--dry-run"], tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert f"'import utils' finds {tmp_path / 'utils' / '__init__.py'}" in result.stderr


UPSTREAM_FILES = {
    "pocketflow/__init__.py": "class BaseNode: pass\nclass Node(BaseNode): pass\n",
    "pocketflow/__init__.pyi": "class BaseNode: ...\nclass Node(BaseNode): ...\n",
}


def test_upstream_installed_after_us_stops_the_apps_naming_it(wheel: Path, tmp_path: Path) -> None:
    upstream = fake_wheel(tmp_path, "pocketflow", "0.0.3", UPSTREAM_FILES)
    venv = make_venv(tmp_path / "venv", [wheel, upstream])
    result = run(venv, ["pf-image-filters", "--list-filters"], tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "'pocketflow'" in result.stderr and "pip uninstall pocketflow" in result.stderr


def test_upstream_installed_before_us_is_reported_on_import(wheel: Path, tmp_path: Path) -> None:
    """Our files win, but uninstalling upstream would delete them and its stub misleads mypy: say how to fix it."""
    upstream = fake_wheel(tmp_path, "pocketflow", "0.0.3", UPSTREAM_FILES)
    venv = make_venv(tmp_path / "venv", [upstream])
    pip(["--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index", str(wheel)])
    result = run(venv, ["python", "-c", "import pocketflow; print(pocketflow.Limiter.__name__)"], tmp_path)
    assert result.returncode == 0 and result.stdout == "Limiter\n", result.stderr
    assert "upstream PocketFlow (pocketflow 0.0.3) is installed" in result.stderr
    assert "pip uninstall -y pocketflow pocketflow-parallel && pip install pocketflow-parallel" in result.stderr

    clean = run(make_venv(tmp_path / "clean", [wheel]), ["python", "-W", "error", "-c", "import pocketflow"], tmp_path)
    assert clean.returncode == 0 and clean.stderr == ""


def test_plain_pytest_command_loads_the_test_plugin() -> None:
    """`pytest`, not only `python -m pytest` (which puts the working directory on sys.path)."""
    script = Path(sys.executable).with_name("pytest")
    command = [str(script), "--collect-only", "-q", "-p", "no:cacheprovider", "tests/utils/test_pseudo.py"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tests collected" in result.stdout


def pip(args: Sequence[str]) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *args], check=True,
                   timeout=120)  # fmt: skip


def make_venv(folder: Path, wheels: Sequence[Path]) -> Path:
    """A new venv without pip, seeing our environment's packages after its own, with `wheels` installed in order."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=60)
    outer = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (site_packages(folder) / "outer-environment.pth").write_text("\n".join(sorted(outer)) + "\n")
    for wheel in wheels:  # one at a time, like a user installing one thing after another
        pip(["--python", str(folder / "bin" / "python"), "install", "--no-deps", "--no-index", str(wheel)])
    return folder


def site_packages(venv: Path) -> Path:
    [found] = (venv / "lib").glob("python3*/site-packages")
    return found


def clean_env() -> dict[str, str]:
    """No key, no .env, no PYTHONPATH pointing back at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_", "ANTHROPIC_", "PYTHON"))}
    env["LLM_DOTENV"] = ""
    return env


def run(venv: Path, command: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    program = str(venv / "bin" / command[0])
    return subprocess.run([program, *command[1:]], cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def fake_wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A real wheel of another distribution (what pip would download), made by hand: files + dist-info."""
    stem = f"{name.replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    contents[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*contents, f"{info}/RECORD"])
    path = folder / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in contents.items():
            archive.writestr(member, text)
    return path


@pytest.fixture(autouse=True)
def _no_network_for_pip(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every pip call above passes --no-index; this keeps a forgotten one from reaching an index anyway."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    yield
