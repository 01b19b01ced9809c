"""The README's layout map names every module of the service, so that it stays the true map."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_maps_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("Every module, one line each", 1)[1].split("```", 2)[1]
    mapped: set[str] = set()
    folders: dict[int, str] = {}  # indentation → the folder its entries are in
    for line in block.splitlines():
        if not line.strip():
            continue
        indent, name = len(line) - len(line.lstrip()), line.split()[0]
        path = folders.get(indent - 2, "") + name
        if name.endswith("/"):
            folders[indent] = path
        elif name.endswith(".py"):
            mapped.add(path)
    modules = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*.py")
        if path.name != "__init__.py"
    }
    assert modules - mapped == set(), "add a line per module to the README's layout map"
    assert mapped - modules == set(), "the README's layout map names modules that are gone"


def test_a_router_never_imports_another_router() -> None:
    """What two routers share (a period parameter, a dependency) lives in a module of its
    own: a router importing another couples their prefixes, tags and import order."""
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in sorted((ROOT / "app" / "routers").glob("*.py"))
        for line in path.read_text().splitlines()
        if line.startswith(("from app.routers", "import app.routers"))
    ]
    assert offenders == []
