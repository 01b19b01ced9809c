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
