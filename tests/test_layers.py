"""The one-way import rule between the layers, and no import circle or side effect.

The rule (docs/architecture.md, "Layers"): `niaouli/` is the core and imports nothing
above it; `ingest/` (files and remote catalogues in) imports only the core; `services/`
and `portal/` (the interfaces) import the core and `ingest/`, never each other; the
composition root (`ROOT` below: the web app, the command line, start-up, the demo, the
migrations) may import everything. Checked on the source with `ast`, every `import`
counted, including those inside functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Folder -> package, as `[tool.setuptools] package-dir` in pyproject.toml maps them.
PACKAGES = {
    "niaouli": "niaouli",
    "ingest": "niaouli.ingest",
    "services": "niaouli.services",
    "portal": "niaouli.portal",
}
# The composition root: wires the layers at start-up, so it may import all of them.
ROOT = (
    "niaouli.web",
    "niaouli.cli",
    "niaouli.startup",
    "niaouli.community_cli",
    "niaouli.demo",
    "niaouli.demo_community",
    "niaouli.demo_harvest",
    # Run by `niaouli db upgrade`; 0020 rebuilds the CSW rows through the CSW service.
    "niaouli.migrations",
)
LAYERS = ("ingest", "services", "portal")
# Which layers each layer may import (its own included).
ALLOWED = {
    "core": {"core"},
    "ingest": {"core", "ingest"},
    "services": {"core", "ingest", "services"},
    "portal": {"core", "ingest", "portal"},
    "root": {"core", "ingest", "services", "portal", "root"},
}


def layer_of(module: str) -> str:
    if any(module == r or module.startswith(r + ".") for r in ROOT):
        return "root"
    for name in LAYERS:
        package = f"niaouli.{name}"
        if module == package or module.startswith(package + "."):
            return name
    return "core"


def modules(repo: Path) -> dict[str, Path]:
    """Every module of the project by dotted name."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((repo / folder).rglob("*.py")):
            parts = list(path.relative_to(repo / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def imported(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported name, line) for every import of the project in `path`."""
    names = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from niaouli import storage` imports niaouli.storage: judge the full name.
            names += [(f"{source}.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in names if name.split(".")[0] == "niaouli"]


def violations(repo: Path) -> list[str]:
    found = []
    for module, path in modules(repo).items():
        mine = layer_of(module)
        for name, line in imported(module, path):
            theirs = layer_of(name)
            if theirs not in ALLOWED[mine]:
                where = path.relative_to(repo)
                found.append(f"{where}:{line}: {module} ({mine}) imports {name} ({theirs})")
    return found


def test_imports_flow_one_way() -> None:
    assert violations(REPO) == []


def test_the_check_sees_a_core_module_importing_an_interface(tmp_path: Path) -> None:
    """The checker itself: a core module importing the portal, lazily, is caught."""
    for folder in PACKAGES:
        (tmp_path / folder).mkdir()
    (tmp_path / "niaouli" / "__init__.py").write_text("")
    (tmp_path / "niaouli" / "thing.py").write_text(
        "def f():\n    from niaouli.portal.csrf import Csrf\n    return Csrf\n"
    )
    (tmp_path / "ingest" / "__init__.py").write_text("from niaouli.services import ogc\n")
    (tmp_path / "portal" / "page.py").write_text("from niaouli import thing\n")
    assert violations(tmp_path) == [
        "niaouli/thing.py:2: niaouli.thing (core) imports niaouli.portal.csrf.Csrf (portal)",
        "ingest/__init__.py:1: niaouli.ingest (ingest) imports niaouli.services.ogc (services)",
    ]


IMPORT_ALONE = textwrap.dedent(
    """
    import importlib, os, sys, traceback, warnings
    warnings.simplefilter("ignore")
    # Third-party libraries first (shared by every child below: fast); then each module
    # of the project in a child of its own, with nothing of the project loaded before it,
    # followed by the tables (the models must still configure after it).
    for name in sys.argv[2].split():
        try:
            importlib.import_module(name)
        except Exception:
            pass
    assert not [m for m in sys.modules if m == "niaouli" or m.startswith("niaouli.")]

    def child(name):
        try:
            importlib.import_module(name)
            importlib.import_module("niaouli.catalogue.models")
            from sqlalchemy.orm import configure_mappers
            configure_mappers()
        except BaseException:
            print(f"--- {name}")
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
            os._exit(1)
        os._exit(0)

    failed, running = 0, set()
    for name in sys.argv[1].split():
        if len(running) >= 2:  # two at a time: the machine's cores are shared
            pid, status = os.wait()
            running.discard(pid)
            failed += status != 0
        pid = os.fork()
        if pid == 0:
            child(name)
        running.add(pid)
    for pid in running:
        failed += os.waitpid(pid, 0)[1] != 0
    sys.exit(1 if failed else 0)
    """
)


def third_party(repo: Path) -> list[str]:
    names = set()
    for path in modules(repo).values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module)
    return sorted(n for n in names if n.split(".")[0] not in {"niaouli", "__future__"})


@pytest.mark.slow
def test_each_module_imports_alone() -> None:
    """No import circle: every module imports (and the models configure) in a fresh
    interpreter where nothing of the project was loaded before it."""
    names = [
        m
        for m in modules(REPO)
        # Alembic's env.py and revisions only run inside Alembic's context.
        if not m.startswith("niaouli.migrations.")
    ]
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALONE, " ".join(names), " ".join(third_party(REPO))],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


def test_importing_installs_no_hook() -> None:
    """Importing every module installs no flush listener: only `niaouli.startup` does."""
    script = textwrap.dedent(
        """
        import importlib, sys
        for name in sys.argv[1].split():
            importlib.import_module(name)
        from sqlalchemy import event
        from sqlalchemy.orm import Session
        from niaouli.catalogue import changes
        assert not changes.installed(), "a flush listener was installed by an import"
        assert changes._hooks == [] and changes._flush_hooks == [], "hooks registered"
        from niaouli import startup
        startup.install()
        assert changes.installed()
        assert event.contains(Session, "before_flush", changes._collect)
        print(len(changes._hooks), len(changes._flush_hooks))
        """
    )
    names = [m for m in modules(REPO) if not m.startswith("niaouli.migrations.")]
    result = subprocess.run(
        [sys.executable, "-c", script, " ".join(names)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Dataset hooks: search text, full-text index, quality score, CSW records; and the
    # organisation followers of the first, second and fourth.
    assert result.stdout.split() == ["4", "3"]


def test_change_hooks_act_on_catalogue_sessions_only(backend) -> None:  # noqa: ANN001
    """The flush listeners follow the catalogue's sessions (engine, `writing()` copy,
    connection), and leave a session of another database alone."""
    from sqlalchemy import Column, Integer, create_engine, text
    from sqlalchemy.orm import DeclarativeBase, Session

    from niaouli.catalogue import changes, service
    from niaouli.catalogue.models import AccessLevel, Organisation, OrganisationKind
    from niaouli.db.engine import is_catalogue_bind, writing

    assert changes.installed()
    assert is_catalogue_bind(backend.engine) and is_catalogue_bind(writing(backend.engine))
    with backend.engine.connect() as conn:
        assert is_catalogue_bind(conn)
    other = create_engine("sqlite://")
    assert not is_catalogue_bind(other) and not is_catalogue_bind(None)

    # Another database in the same process: its flushes run none of the hooks.
    class Other(DeclarativeBase):
        pass

    class Note(Other):
        __tablename__ = "notes"
        id = Column(Integer, primary_key=True)

    Other.metadata.create_all(other)
    with Session(other) as session:
        session.add(Note(id=1))
        session.flush()
        assert "niaouli_touched" not in session.info  # `changes` never looked at it
    other.dispose()

    # The catalogue's own session: the version moves and the search text is written.
    with Session(writing(backend.engine)) as session, session.begin():
        before = changes.current_version(session.connection())
        org = Organisation(
            slug="org-hooks", name="Organisation des crochets", kind=OrganisationKind.ASSOCIATION
        )
        session.add(org)
        session.flush()
        service.create_dataset(
            session, org, slug="crochets", title="Crochets", access_level=AccessLevel.PUBLIC
        )
        session.flush()
        after = changes.current_version(session.connection())
        text_of = session.execute(
            text("SELECT search_text FROM datasets WHERE slug = 'crochets'")
        ).scalar()
    assert after > before
    assert text_of and "crochets" in text_of
