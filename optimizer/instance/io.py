"""Reading and writing the three spellings of an instance: TOML, JSON and a CSV folder.

Reading stops at raw text and values (``RawInstance``): typing, defaults and every
rule of the format are ``validate``'s job, so that all three spellings are checked
by the same code and report problems the same way. Writing takes plain records
(one dict a row, "none" values left out) and is atomic: all or nothing.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from optimizer.errors import InstanceError, OutputError, Problem
from optimizer.instance.columns import REQUIRED_TABLES, TABLES

CSV_INSTANCE_FILE = "instance.toml"
"""In the CSV-folder spelling, the file holding ``[instance]`` and ``[parameters]``."""

INSTANCE_FOLDER_FILES = frozenset({CSV_INSTANCE_FILE, *(f"{name}.csv" for name in TABLES)})
"""Every file of the CSV-folder spelling."""


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
    text = _read_text(path)
    if spelling == "toml":
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise InstanceError([Problem(path.name, None, f"is not valid TOML: {error}")]) from None
    else:
        try:
            document = json.loads(text, parse_constant=_reject_json_constant)
        except (json.JSONDecodeError, ValueError) as error:
            raise InstanceError([Problem(path.name, None, f"is not valid JSON: {error}")]) from None
        if not isinstance(document, dict):
            raise InstanceError([Problem(path.name, None, "must hold a JSON object at the top")])
    return _from_document(document, path.name, str(path), spelling)


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
        try:
            document = tomllib.loads(_read_text(head))
        except tomllib.TOMLDecodeError as error:
            raise InstanceError([Problem(CSV_INSTANCE_FILE, None,
                                         f"is not valid TOML: {error}")]) from None
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

@contextmanager
def atomic_path(target: Path, owned: frozenset[str] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success move it into place at once.

    Whatever was at ``target`` stays whole until the new content is complete; on any
    error (or interruption) the temporary is removed and ``target`` is untouched.

    ``owned`` names the files of a folder output: an existing folder is replaced only
    if it holds nothing else (a previous output of the same kind); ``None`` means the
    output is one file, and an existing folder there is refused.

    Raises
    ------
    OutputError
        When ``target`` holds something this output must not replace.
    """
    target = Path(target)
    if target.is_dir():
        if owned is None:
            raise OutputError(f"{target} is a folder: give a file name")
        foreign = sorted(p.name for p in target.iterdir() if p.name not in owned)
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise OutputError(f"{target} holds files this output would not write ({shown}): "
                              "choose a new or empty folder")
    elif target.exists() and owned is not None:
        raise OutputError(f"{target} exists and is not a folder")
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent))
    staged = temporary / target.name
    try:
        yield staged
        if target.is_dir() and not target.is_symlink():
            retired = temporary / (target.name + ".old")
            os.replace(target, retired)
            os.replace(staged, target)
        else:
            os.replace(staged, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


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
