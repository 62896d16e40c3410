"""What the commands check and load before any work: output paths and the instance."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from optimizer.cli.output import echo_warnings

if TYPE_CHECKING:
    from optimizer.instance import Instance


def check_writable(target: str | None, kind: str) -> None:
    """Refuse, before any work, an output path that cannot be written as a ``kind``.

    Parameters
    ----------
    target : str or None
        The path asked for; ``None`` (none asked for) passes.
    kind : str
        ``"folder"`` or ``"file"``.

    Raises
    ------
    click.UsageError
        When ``target`` exists as the other kind, or its nearest existing parent is not a
        writable folder.
    """
    if target is None:
        return
    path = Path(target)
    wrong = path.is_file() if kind == "folder" else path.is_dir()
    if wrong:
        raise click.UsageError(f"{target} exists and is not a {kind}")
    parent = path.parent if str(path.parent) else Path(".")
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise click.UsageError(f"cannot write {target}: {parent} is not a writable folder")


def load(path: str) -> Instance:
    """Load the instance at ``path`` and show its warnings.

    ``--allow-extra-columns`` (`optimizer.cli.options.allow_extra_columns`) of the
    running command decides whether unknown columns are ignored or refused. Its
    ``--current`` (`optimizer.cli.options.current_option`), when given, replaces the
    instance's ``current`` table with a previous solution's allocation (said on standard
    error when the instance had one).

    Parameters
    ----------
    path : str
        A .toml or .json file, or a folder of CSV files.

    Returns
    -------
    Instance
        The validated instance.
    """
    from optimizer.instance import load_instance

    meta = click.get_current_context().meta
    instance = load_instance(path, allow_extra_columns=meta.get("allow_extra_columns", False))
    echo_warnings(instance.warnings)
    if meta.get("current"):
        from optimizer.instance.current import current_from_solution

        current = current_from_solution(meta["current"])
        if len(instance.current):
            click.echo(f"note: the current allocation of {meta['current']} ({len(current)} "
                       f"rows) replaces the instance's own ({len(instance.current)} rows)",
                       err=True)
        instance = instance.with_current(current)
    return instance
