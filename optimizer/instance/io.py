"""Reading and writing the three spellings of an instance: TOML, JSON and a CSV folder.

Reading stops at raw text and values (``RawInstance``): typing, defaults and every
rule of the format are ``validate``'s job, so that all three spellings are checked
by the same code and report problems the same way. Writing takes plain records
(one dict a row, "none" values left out) and is atomic: all or nothing.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from optimizer.atomic import atomic_path
from optimizer.errors import InstanceError, Problem
from optimizer.instance.columns import REQUIRED_TABLES, TABLES

CSV_INSTANCE_FILE = "instance.toml"
"""In the CSV-folder spelling, the file holding ``[instance]`` and ``[parameters]``."""

INSTANCE_FOLDER_FILES = frozenset({CSV_INSTANCE_FILE, *(f"{name}.csv" for name in TABLES)})
"""Every file of the CSV-folder spelling."""

FORMAT_NESTING = 4
"""How deep an instance document nests: the document, a table's rows, a row, a list cell."""

MAX_NESTING = 8
"""Deepest nesting read in a TOML or JSON document, with slack above ``FORMAT_NESTING``."""

_ESCAPED_SURROGATE = re.compile(  # a high one without a low one after it, or the reverse
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTAINERS = frozenset({dict, list})


@dataclass
class RawTable:
    """One table as read, before typing: every cell an untyped Python value.

    Attributes
    ----------
    name : str
        The table's name (``stakes``, ``services``, ...).
    frame : pandas.DataFrame
        One row a row of the input, object dtype; a missing cell is ``None``.
    row_where : list of str
        For each row, where it is written: ``"stakes.csv row 18"`` (CSV rows are counted
        as a spreadsheet does, the header being row 1) or ``"inst.toml stakes[17]"``
        (TOML and JSON entries are counted from 1).
    """

    name: str
    frame: pd.DataFrame
    row_where: list[str]
    file: str


@dataclass
class RawInstance:
    """An instance as read from disk or frames, not yet validated."""

    origin: str
    spelling: str
    meta: dict[str, Any]
    parameters: dict[str, Any]
    tables: dict[str, RawTable]
    meta_where: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    unknown_tables: list[tuple[str, str]] = field(default_factory=list)
    """(where, name) of each table the format does not know; ``validate`` judges them."""


def spelling_of(path: Path) -> str:
    """Name the spelling of ``path`` from its suffix: ``toml``, ``json`` or ``csv`` (a folder)."""
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix == ".json":
        return "json"
    return "csv"


def read_raw(path: str | os.PathLike[str]) -> RawInstance:
    """Read an instance file or folder into raw tables.

    Raises
    ------
    InstanceError
        When the file cannot be read or parsed at all (missing, not TOML, not JSON...).
    """
    path = Path(path)
    spelling = spelling_of(path)
    if spelling == "csv":
        if not path.is_dir():
            if path.exists():
                raise InstanceError([Problem(str(path), None, "is neither a .toml or .json file "
                                             "nor a folder of CSV files")])
            raise InstanceError([Problem(str(path), None, "does not exist")])
        return _read_csv_folder(path)
    if not path.is_file():
        raise InstanceError([Problem(str(path), None, "does not exist" if not path.exists()
                                     else "is not a file")])
    document = parse_document(_read_text(path), path.name, spelling)
    return _from_document(document, path.name, str(path), spelling)


def parse_document(text: str, file: str, spelling: str) -> dict[str, Any]:
    r"""Parse TOML or JSON text into a document, refusing what no instance can be.

    Besides syntax, refused: nesting deeper than ``MAX_NESTING`` (it would otherwise
    reach code that recurses into values, and Python's recursion limit), and, in JSON,
    text with an unpaired surrogate escape (``"\ud800"``), which is not a character
    and cannot be written back as UTF-8.

    Raises
    ------
    InstanceError
        Naming ``file`` (and the table, row and column where one is at fault).
    """
    language = spelling.upper()
    try:
        if spelling == "toml":
            document = tomllib.loads(text)
        else:
            document = json.loads(text, parse_constant=_reject_json_constant)
    except RecursionError:
        raise InstanceError([Problem(file, None, f"is not valid {language} for an instance: "
                                     "it nests lists or tables hundreds of levels deep (an "
                                     f"instance needs {FORMAT_NESTING})")]) from None
    except ValueError as error:  # TOMLDecodeError, JSONDecodeError and refused constants
        raise InstanceError([Problem(file, None, f"is not valid {language}: {error}")]) from None
    if not isinstance(document, dict):
        raise InstanceError([Problem(file, None, "must hold a JSON object at the top")])
    problem = _too_deep_or_not_text(document, file, spelling == "json"
                                    and _ESCAPED_SURROGATE.search(text) is not None)
    if problem is not None:
        raise InstanceError([problem])
    return document


def _too_deep_or_not_text(document: dict[str, Any], file: str, check_text: bool
                          ) -> Problem | None:
    """The first value nested deeper than MAX_NESTING, or text with a lone surrogate."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), document)]
    while stack:
        path, container = stack.pop()
        if len(path) >= MAX_NESTING:
            where, column = _where_in(file, path)
            return Problem(where, column, f"is nested more than {MAX_NESTING} levels deep (lists "
                           "in lists); a cell holds one value or a list of ids")
        if not check_text and len(path) + 1 < MAX_NESTING and _plain_rows(container):
            continue  # the common case, checked without a loop in Python
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, item in items:
            if check_text and any(isinstance(text, str) and _SURROGATE.search(text)
                                  for text in (key, item)):
                where, column = _where_in(file, (*path, key))
                if column is not None and _SURROGATE.search(column):
                    column = ascii(column)  # a key that is itself broken, shown escaped
                return Problem(where, column,
                               "holds an unpaired surrogate escape (\\ud800-\\udfff), which "
                               "is not a character: write the text itself, in UTF-8")
            if isinstance(item, dict | list):
                stack.append(((*path, key), item))
    return None


def _plain_rows(container: dict[str, Any] | list[Any]) -> bool:
    """Whether ``container`` is a row of plain values, or a list of such rows."""
    if isinstance(container, dict):
        return _CONTAINERS.isdisjoint(map(type, container.values()))
    return set(map(type, container)) <= {dict} and _CONTAINERS.isdisjoint(
        map(type, itertools.chain.from_iterable(map(dict.values, container))))


def _where_in(file: str, path: tuple[Any, ...]) -> tuple[str, str | None]:
    """Locate a document path as messages do: ``bad.json stakes[2]`` and the column."""
    if len(path) >= 2 and isinstance(path[1], int):
        column = str(path[2]) if len(path) > 2 else None
        return f"{file} {path[0]}[{path[1] + 1}]", column
    if path and path[0] in ("instance", "parameters"):
        return f"{file} [{path[0]}]", str(path[1]) if len(path) > 1 else None
    return file, str(path[0]) if path else None


def raw_from_frames(
    meta: dict[str, Any], parameters: dict[str, Any], frames: dict[str, pd.DataFrame | None]
) -> RawInstance:
    """Wrap in-memory DataFrames as raw tables, so they are validated like files."""
    tables: dict[str, RawTable] = {}
    for name, frame in frames.items():
        if frame is None:
            continue
        duplicated = sorted({str(c) for c in frame.columns if list(frame.columns).count(c) > 1})
        if duplicated:
            raise InstanceError([Problem(f"{name} frame", None, "names column(s) "
                                         f"{', '.join(duplicated)} more than once")])
        frame = frame.copy()
        spec = TABLES[name]
        if spec.id_column and spec.id_column not in frame.columns and frame.index.name == \
                spec.id_column:
            frame = frame.reset_index()
        frame = frame.astype(object).where(frame.notna(), None)
        frame = frame.reset_index(drop=True)
        tables[name] = RawTable(name, frame, [f"{name} row {n + 1}" for n in range(len(frame))],
                                name)
    return RawInstance("frames", "frames", dict(meta), dict(parameters), tables, "instance")


def _reject_json_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed: leave the value out (or null) for none")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InstanceError([Problem(path.name, None, f"is not UTF-8 text ({error.reason} at "
                                     f"byte {error.start})")]) from None
    except OSError as error:
        raise InstanceError([Problem(str(path), None, f"cannot be read: {error.strerror}")]) \
            from None


def _from_document(document: dict[str, Any], file: str, origin: str, spelling: str
                   ) -> RawInstance:
    problems: list[Problem] = []
    unknown_tables: list[tuple[str, str]] = []
    meta = document.get("instance", {})
    if not isinstance(meta, dict):
        problems.append(Problem(file, "instance", "must be a table"))
        meta = {}
    parameters = document.get("parameters", {})
    if not isinstance(parameters, dict):
        problems.append(Problem(file, "parameters", "must be a table"))
        parameters = {}
    tables: dict[str, RawTable] = {}
    for key, value in document.items():
        if key in ("instance", "parameters"):
            continue
        if key not in TABLES:
            unknown_tables.append((file, str(key)))
            continue
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            problems.append(Problem(file, key, "must be a list of rows ([[" + key + "]] in TOML, "
                                    "a list of objects in JSON)"))
            continue
        frame = pd.DataFrame.from_records(value) if value else pd.DataFrame()
        frame = frame.astype(object).where(frame.notna(), None) if len(frame) else frame
        tables[key] = RawTable(key, frame, [f"{file} {key}[{n + 1}]" for n in range(len(value))],
                               file)
    return RawInstance(origin, spelling, meta, parameters, tables, file, problems,
                       unknown_tables=unknown_tables)


def _read_csv_folder(folder: Path) -> RawInstance:
    head = folder / CSV_INSTANCE_FILE
    if head.is_file():
        document = parse_document(_read_text(head), CSV_INSTANCE_FILE, "toml")
        unknown = set(document) - {"instance", "parameters"}
    else:
        raise InstanceError([Problem(str(folder), None, f"has no {CSV_INSTANCE_FILE} (it holds "
                                     "the [instance] and [parameters] tables)")])
    raw = _from_document({k: v for k, v in document.items() if k in ("instance", "parameters")},
                         CSV_INSTANCE_FILE, str(folder), "csv")
    raw.unknown_tables += [(CSV_INSTANCE_FILE, key) for key in sorted(unknown)]
    for name in TABLES:
        file = folder / f"{name}.csv"
        if not file.exists():
            continue
        table, problems = _read_csv_table(file, name)
        raw.problems.extend(problems)
        if table is not None:
            raw.tables[name] = table
    known = {f"{name}.csv" for name in TABLES}
    for file in sorted(folder.glob("*.csv")):
        if file.name not in known:
            raw.unknown_tables.append((file.name, file.stem))
    return raw


def _read_csv_table(file: Path, name: str) -> tuple[RawTable | None, list[Problem]]:
    csv.field_size_limit(2**31 - 1)
    text = _read_text(file)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    lines = [n + 1 for n, row in enumerate(rows)]
    kept = [(line, row) for line, row in zip(lines, rows, strict=True) if any(c.strip()
                                                                              for c in row)]
    if not kept:
        return RawTable(name, pd.DataFrame(), [], file.name), []
    (_, header), body = kept[0], kept[1:]
    header = [h.strip() for h in header]
    problems: list[Problem] = []
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        sep = next(sep for sep in (";", "\t", "|") if sep in header[0])
        shown = "a tab" if sep == "\t" else f"'{sep}'"
        return None, [Problem(f"{file.name} row 1", None, f"the header looks separated by {shown}"
                              "; the format's CSV files are comma-separated")]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        problems.append(Problem(f"{file.name} row 1", None,
                                f"names column(s) {', '.join(duplicated)} more than once"))
    if "" in header:
        problems.append(Problem(f"{file.name} row 1", None, "has a column with an empty name"))
    records = []
    where = []
    for line, row in body:
        if len(row) != len(header):
            problems.append(Problem(f"{file.name} row {line}", None,
                                    f"has {len(row)} fields, the header has {len(header)}"))
            continue
        records.append([cell.strip() or None for cell in row])
        where.append(f"{file.name} row {line}")
    if problems:
        return None, problems
    frame = pd.DataFrame(records, columns=header, dtype=object)
    return RawTable(name, frame, where, file.name), []


# --- writing ---------------------------------------------------------------------------------

def write_document(path: Path, meta: dict[str, Any], parameters: dict[str, Any],
                   tables: dict[str, list[dict[str, Any]]]) -> None:
    """Write an instance in the spelling ``path`` names (``.toml``, ``.json`` or a folder)."""
    spelling = spelling_of(path)
    owned = INSTANCE_FOLDER_FILES if spelling == "csv" else None
    with atomic_path(path, owned) as staged:
        if spelling == "csv":
            staged.mkdir()
            head: dict[str, Any] = {"instance": meta}
            if parameters:
                head["parameters"] = parameters
            (staged / CSV_INSTANCE_FILE).write_text(tomli_w.dumps(head), encoding="utf-8")
            for name, records in tables.items():
                if records or name in REQUIRED_TABLES:
                    _write_csv(staged / f"{name}.csv", name, records)
            return
        document: dict[str, Any] = {"instance": meta}
        if parameters:
            document["parameters"] = parameters
        for name, records in tables.items():
            if records or name in REQUIRED_TABLES:
                document[name] = records
        if spelling == "toml":
            staged.write_text(_toml_text(document), encoding="utf-8")
        else:
            staged.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n",
                              encoding="utf-8")


def _toml_text(document: dict[str, Any]) -> str:
    """TOML with ``[instance]`` first and one ``[[table]]`` block a row, as people write it."""
    parts = [tomli_w.dumps({key: document[key]}) for key in ("instance", "parameters")
             if key in document]
    for name, records in document.items():
        if name in ("instance", "parameters"):
            continue
        for record in records:
            body = tomli_w.dumps(record)
            parts.append(f"[[{name}]]\n{body}")
    return "\n".join(parts)


def _write_csv(file: Path, name: str, records: list[dict[str, Any]]) -> None:
    spec = TABLES[name]
    used = {key for record in records for key in record}
    columns = [c for c in spec.names if c in used or spec.column(c).required]
    with file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for record in records:
            writer.writerow([_csv_cell(record.get(c)) for c in columns])


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite value {value} cannot be written")
        return repr(value)
    return str(value)
