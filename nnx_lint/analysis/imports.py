"""Module names of files and the resolution of relative imports."""

from __future__ import annotations

from pathlib import Path


def module_name_for(path: Path) -> tuple[str, bool]:
    """Dotted module name of a file (walking up through packages), and whether it is a package."""
    path = Path(path)
    try:
        path = path.resolve()
    except OSError:
        pass
    is_package = path.stem == "__init__"
    parts = [] if is_package else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").exists() and directory.parent != directory:
        parts.append(directory.name)
        directory = directory.parent
    name = ".".join(reversed(parts)) or path.stem
    return name, is_package


def resolve_relative(module: str | None, level: int, package: str) -> str:
    """The absolute module named by ``from <level dots><module> import ...`` in ``package``."""
    if not level:
        return module or ""
    base = package.split(".") if package else []
    if level > 1:
        base = base[: len(base) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base)
