"""Configuration: the ``[tool.nnx-lint]`` table of a pyproject.toml, under the command line.

Which file: ``--config PATH``, else the nearest pyproject.toml that has a ``[tool.nnx-lint]``
table, searched upward from the common parent directory of the paths to lint (the working
directory when none is given; ``--stdin-filename``'s directory when reading standard input).
Patterns (``exclude``, ``extend-exclude``, ``per-file-ignores``) are gitignore-style, relative
to that file's directory (to the working directory when there is no file).

Rule selection, as in ruff: the default (``NNX0``; the upgrade rules, NNX1, are opt-in), then
the file, then the command line. A ``select`` replaces everything before it; ``extend-select``
and ``ignore`` change only the codes they name; within one source the longest matching prefix
wins, ``ignore`` on a tie. Scalars (``target-flax-version``, ``unsafe-fixes``,
``output-format``) on the command line override the file's. ``per-file-ignores`` then turns
codes off in the files it matches.

Errors (unreadable file, invalid TOML, unknown key or code, wrong type) raise ConfigError with a
message naming the file and the key; nothing here prints.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from nnx_lint.diagnostics import FRONT_END
from nnx_lint.files import DEFAULT_EXCLUDE, PathPatterns, search_start
from nnx_lint.rules import RULES_BY_CODE
from nnx_lint.settings import FORMATS, Settings, installed_flax
from nnx_lint.settings import parse_version as read_version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TABLE = "nnx-lint"
T = TypeVar("T")
KNOWN_CODES = (*RULES_BY_CODE, *FRONT_END)


class ConfigError(Exception):
    """An unusable configuration; the message says which file, key and value."""


# Values ----------------------------------------------------------------------------------------


def parse_codes(values: Sequence[str]) -> tuple[str, ...]:
    """Rule codes or prefixes, upper-cased; ``ALL`` (every code) becomes the empty prefix."""
    codes = []
    for value in values:
        code = value.strip().upper()
        if code != "ALL" and not (code and any(k.startswith(code) for k in KNOWN_CODES)):
            raise ValueError(f"unknown rule code or prefix: {value}")
        codes.append("" if code == "ALL" else code)
    return tuple(codes)


def parse_version(value: str) -> tuple[int, ...]:
    """A version the user wrote: digits and dots only (then read as any version is)."""
    if not re.fullmatch(r"\d+(\.\d+)*", value):
        raise ValueError(f"not a version like 0.11.0: {value}")
    return read_version(value)


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _codes(value: object) -> tuple[str, ...]:
    return parse_codes(_strings(value))


def _per_file_ignores(value: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise ValueError(f'expected a table of "pattern" = [codes], got {value!r}')
    entries = []
    for pattern, codes in value.items():
        try:
            entries.append((pattern, _codes(codes)))
        except ValueError as exc:
            raise ValueError(f"{pattern!r}: {exc}") from None
    return tuple(entries)


def _version(value: object) -> tuple[int, ...]:
    if not isinstance(value, str):
        raise ValueError(f'expected a string like "0.11.0", got {value!r}')
    return parse_version(value)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _output_format(value: object) -> str:
    if value not in FORMATS:
        raise ValueError(f"expected one of {', '.join(FORMATS)}, got {value!r}")
    return value


_KEYS: dict[str, Callable[[object], object]] = {
    "select": _codes,
    "extend-select": _codes,
    "ignore": _codes,
    "exclude": _strings,
    "extend-exclude": _strings,
    "extend-include": _strings,
    "per-file-ignores": _per_file_ignores,
    "target-flax-version": _version,
    "unsafe-fixes": _bool,
    "force-exclude": _bool,
    "output-format": _output_format,
}


# Options from one source -----------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The settings one source (the file, or the command line) gives; None: not given there."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    extend_include: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    target_flax_version: tuple[int, ...] | None = None
    unsafe_fixes: bool | None = None
    output_format: str | None = None
    force_exclude: bool | None = None


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            document: dict[str, object] = tomllib.load(f)
            return document
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _table(path: Path) -> dict[str, object] | None:
    """The file's ``[tool.nnx-lint]`` table, None when it has none."""
    tool = _read_toml(path).get("tool")
    table = tool.get(TABLE) if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{path}: tool.{TABLE} must be a table, got {table!r}")
    return table


def read_options(path: Path) -> Options:
    """The options of a pyproject.toml's ``[tool.nnx-lint]`` table (none when it has none)."""
    # Each value is of the type its key's converter in _KEYS gives, which is that of the
    # Options field of that name: a type per key, which no annotation of the dict can say.
    values: dict[str, Any] = {}
    for key, value in (_table(path) or {}).items():
        convert = _KEYS.get(key)
        if convert is None:
            close = difflib.get_close_matches(key, _KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(_KEYS)
            raise ConfigError(
                f"{path}: unknown key {key!r} in [tool.{TABLE}]{hint}; known keys: {known}"
            )
        try:
            values[key.replace("-", "_")] = convert(value)
        except ValueError as exc:
            raise ConfigError(f"{path}: [tool.{TABLE}] {key}: {exc}") from None
    return Options(**values)


def near_misses(start: Path) -> list[str]:
    """Tables in the pyproject.toml files from ``start`` upward that look meant for nnx-lint
    but are not read (``[tool.nnx_lint]``, ``[tool.nnxlint]``), each with its file."""
    found = []
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if not candidate.is_file():
            continue
        try:
            tool = _read_toml(candidate).get("tool")
        except ConfigError:
            continue  # reported when it is read
        if not isinstance(tool, dict):
            continue
        for key in tool:
            if key != TABLE and re.sub(r"[-_ ]", "", key.lower()) == TABLE.replace("-", ""):
                found.append(f"{candidate}: [tool.{key}] is not read; did you mean [tool.{TABLE}]?")
        if TABLE in tool:
            break  # the table that is read: files above it do not matter
    return found


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a ``[tool.nnx-lint]`` table in ``start`` or above it."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and _table(candidate) is not None:
            return candidate
    return None


# The merged configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """The file's options under the command line's, ready for a run."""

    path: Path | None  # the pyproject.toml read, if any
    enabled: tuple[str, ...]  # the rule codes on, before per-file-ignores
    exclude: PathPatterns
    # Files a directory walk lints besides Python files and notebooks (`*.md`, `*.rst`).
    include: PathPatterns
    per_file_ignores: tuple[tuple[PathPatterns, tuple[str, ...]], ...]
    target_flax_version: tuple[int, ...] | None
    unsafe_fixes: bool
    output_format: str
    # `exclude` also applies to files named on the command line (as pre-commit names them).
    force_exclude: bool = False

    @cached_property
    def _settings(self) -> Settings:
        """Every file's settings when there are no per-file-ignores (asked once per file)."""
        return Settings(
            select=self.enabled,
            unsafe_fixes=self.unsafe_fixes,
            target_flax_version=self.target_flax_version or installed_flax(),
        )

    def settings(self, path: str) -> Settings:
        """The engine's settings for one file: its per-file-ignores turn codes off; the target
        flax version is the configured one, else the installed one."""
        if not self.per_file_ignores:
            return self._settings
        matching = [codes for patterns, codes in self.per_file_ignores if patterns.match(path)]
        prefixes = tuple(prefix for codes in matching for prefix in codes)
        return Settings(
            select=self.enabled,
            ignore=tuple(code for code in self.enabled if code.startswith(prefixes)),
            unsafe_fixes=self.unsafe_fixes,
            target_flax_version=self.target_flax_version or installed_flax(),
        )


def _enabled(sources: Sequence[Options]) -> tuple[str, ...]:
    """The rule codes on after each source in turn has changed the default selection."""
    on = {code for code in RULES_BY_CODE if Settings().enabled(code)}
    for source in sources:
        select = (*(source.select or ()), *source.extend_select)
        chosen = Settings(select=select, ignore=source.ignore)
        named = (*source.extend_select, *source.ignore)
        for code in RULES_BY_CODE:
            if source.select is None and not code.startswith(named):
                continue  # a code this source does not mention stays as it was
            if chosen.enabled(code):
                on.add(code)
            else:
                on.discard(code)
    return tuple(sorted(on))


def _first(*values: T | None) -> T:
    """The first value given (not None): for settings where an empty or false value counts."""
    return next(v for v in values if v is not None)


def resolve(file: Options, cli: Options, path: Path | None = None) -> Config:
    """The configuration of a run: ``file``'s options (read from ``path``) under ``cli``'s."""
    root = Path(os.path.abspath(path)).parent if path else Path.cwd()
    exclude = _first(cli.exclude, file.exclude, DEFAULT_EXCLUDE)
    per_file = (*file.per_file_ignores, *cli.per_file_ignores)
    return Config(
        path=path,
        enabled=_enabled([file, cli]),
        exclude=PathPatterns((*exclude, *file.extend_exclude, *cli.extend_exclude), root),
        include=PathPatterns(file.extend_include, root),
        per_file_ignores=tuple((PathPatterns([p], root), codes) for p, codes in per_file),
        target_flax_version=cli.target_flax_version or file.target_flax_version,
        unsafe_fixes=_first(cli.unsafe_fixes, file.unsafe_fixes, False),
        output_format=cli.output_format or file.output_format or "full",
        force_exclude=_first(cli.force_exclude, file.force_exclude, False),
    )


def load(paths: Sequence[str], config: str | None = None, cli: Options | None = None) -> Config:
    """Find (or, with ``config``, read) the configuration file and merge ``cli`` over it."""
    path = Path(config) if config else find_pyproject(search_start(paths))
    return resolve(read_options(path) if path else Options(), cli or Options(), path)
