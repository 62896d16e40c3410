"""Writing an output all at once: a reader finds the previous complete output or the new one.

Every output (solution folders, instance files and folders, plots, reports) is first
written whole to a hidden staging folder beside its target, ``.NAME.<8 hex>.partial``,
and then put in place in one step.

- A file is put in place by ``rename``, which replaces an existing file atomically.
- A folder cannot be replaced by ``rename`` while it holds files, and moving the old one
  away first leaves a moment with no output at all: a crash there (or a ``kill -9``)
  loses the old output, and a concurrent writer finds nothing to replace. So the new
  folder and the old one *exchange names* in one system call, Linux's
  ``renameat2(RENAME_EXCHANGE)`` (kernel 3.15, glibc 2.28; reached through ctypes);
  the old folder is then in the staging folder and is removed with it. A first output
  is put in place with ``renameat2(RENAME_NOREPLACE)``, so that two writers racing for a
  new name both succeed, one after the other. A symlink to versioned folders would also
  swap in one step, but would turn the output into a link (which copies, archives and
  Windows treat differently) and leave old versions to collect; the exchange keeps a
  plain folder.
- Where the exchange is not available (another system, or a file system that refuses
  it), the old folder is moved into the staging folder and the new one into place: two
  renames. An error or a signal between them puts the old folder back; only a hard kill
  in that instant leaves the target missing, the old output then waiting in the staging
  folder until the next successful write.

"Atomic" here is against processes stopped or killed at any moment, and against other
writers; nothing is flushed to disk (``fsync``), so a power cut may still lose data.

Each staging folder is locked (``flock``) by the process writing it. A writer that was
killed leaves its staging folder behind, hidden and named after the target; the next
successful write of the same target removes every such folder whose lock is free, and
never one that a live writer holds. (Without ``flock``, on Windows, leftovers stay.)
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from optimizer.errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock, leftovers of killed writers stay
    fcntl = None  # type: ignore[assignment]

STAGING_SUFFIX = ".partial"
"""Suffix of a staging folder, ``.NAME.<8 hex digits>.partial`` beside the target NAME."""

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


class _NoExchange(Exception):
    """``renameat2`` with flags is not available here (system, libc or file system)."""


def _load_renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()


def _rename_with(source: Path, target: Path, flags: int) -> None:
    """``renameat2(source, target, flags)``; raise OSError, or _NoExchange if unsupported."""
    if _renameat2 is None:
        raise _NoExchange
    if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), flags) == 0:
        return
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        raise _NoExchange
    raise OSError(code, os.strerror(code), str(source), None, str(target))


def _swap_folder_in(staged: Path, target: Path) -> None:
    """Put the folder ``staged`` at ``target`` in one step; a previous folder goes to ``staged``.

    Parameters
    ----------
    staged : Path
        The complete new folder; afterwards it holds the previous output, if any.
    target : Path
        Where the new folder belongs, in the same file system as ``staged``.
    """
    while True:
        try:
            _rename_with(staged, target, _RENAME_NOREPLACE)
            return
        except FileExistsError:
            pass
        except _NoExchange:
            _swap_by_two_renames(staged, target)
            return
        try:
            _rename_with(staged, target, _RENAME_EXCHANGE)
            return
        except FileNotFoundError:  # another writer's fallback moved it away: try again
            continue
        except _NoExchange:
            _swap_by_two_renames(staged, target)
            return


def _swap_by_two_renames(staged: Path, target: Path) -> None:
    """The fallback: move the old folder beside ``staged``, then ``staged`` into place.

    Whatever interrupts it (an error, a signal turned into an exception), the old folder
    is put back if the new one is not in place.
    """
    retired = [staged.with_name(f"{staged.name}.old{n}") for n in range(100)]
    try:
        for old in retired:
            try:
                os.rename(staged, target)  # fails while a non-empty folder is there
                return
            except OSError:
                if not os.path.lexists(target):
                    raise
            try:
                os.rename(target, old)
            except FileNotFoundError:  # gone meanwhile: place ours on the next turn
                continue
        raise OutputError(f"{target} keeps being replaced by another writer: try again")
    finally:
        if not os.path.lexists(target):
            for old in reversed(retired):
                if os.path.lexists(old):
                    try:
                        os.rename(old, target)
                    except OSError:
                        pass
                    break


def _lock(folder: Path) -> int | None:
    """Open ``folder`` and hold an exclusive lock on it (None where there is no flock)."""
    if fcntl is None:
        return None
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
    except OSError:
        os.close(handle)
        raise
    return handle


def _try_lock(folder: str) -> int | None:
    """The lock on ``folder`` if no live process holds it, else None."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        return None
    return handle


def _make_staging(parent: Path, name: str) -> tuple[Path, int | None]:
    """A new, locked, hidden staging folder in ``parent`` for the target ``name``."""
    for _ in range(100):
        folder = parent / f".{name}.{secrets.token_hex(4)}{STAGING_SUFFIX}"
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        # Between mkdir and lock another writer's cleaner may take the folder for a dead
        # writer's and remove it (before the lock: open fails; after a new mkdir of the
        # same name: the lock is on another folder). Either way, take another name.
        try:
            handle = _lock(folder)
        except FileNotFoundError:
            continue
        try:
            if handle is None or os.path.samestat(os.fstat(handle), os.stat(folder)):
                return folder, handle
        except FileNotFoundError:
            pass
        os.close(handle)  # type: ignore[arg-type]
    raise OutputError(f"cannot make a staging folder in {parent}")


def remove_leftovers(parent: Path, name: str) -> list[str]:
    """Remove the staging folders of ``name`` in ``parent`` left by killed writers.

    A folder whose lock a live writer holds is kept. Returns the names removed.
    """
    if fcntl is None:
        return []
    pattern = re.compile(rf"\.{re.escape(name)}\.[0-9a-z_]{{8}}{re.escape(STAGING_SUFFIX)}")
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    for entry in entries:
        if not pattern.fullmatch(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        handle = _try_lock(entry.path)
        if handle is None:
            continue
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
        finally:
            os.close(handle)
    return removed


def _refuse_foreign(target: Path, owned: frozenset[str] | None) -> None:
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


def _parent_folder(target: Path) -> Path:
    """The folder ``target`` goes in, created if missing; OutputError if it cannot be."""
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocker = next((p for p in (parent, *parent.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise OutputError(f"cannot write {target}: {blocker} is a file, not a folder") \
                from None
        raise OutputError(f"cannot write {target}: cannot create the folder {parent} "
                          f"({error.strerror})") from None
    return parent


@contextmanager
def atomic_path(target: Path, owned: frozenset[str] | None = None) -> Iterator[Path]:
    """Yield a path in a hidden staging folder beside ``target``; on success put it in place.

    Whatever was at ``target`` stays whole until the new content is complete, and is then
    replaced in one step (see the module's docstring for how, and why): a reader, or a
    process killed at any moment, finds the previous complete output or the new one.
    On any error (or interruption) the staging folder is removed and ``target`` is
    untouched. After a successful write, staging folders of ``target`` left by killed
    writers are removed.

    Parameters
    ----------
    target : Path
        The file or folder to write.
    owned : frozenset of str or None
        The names of the files of a folder output: an existing folder is replaced only
        if it holds nothing else (a previous output of the same kind). ``None`` means the
        output is one file, and an existing folder there is refused.

    Raises
    ------
    OutputError
        When ``target`` holds something this output must not replace, or its folder
        cannot be created or written in.
    """
    target = Path(target)
    _refuse_foreign(target, owned)
    parent = _parent_folder(target)
    try:
        staging, handle = _make_staging(parent, target.name)
    except OSError as error:
        raise OutputError(f"cannot write {target}: {error.strerror} in {parent}") from None
    staged = staging / target.name
    try:
        yield staged
        if owned is None:
            os.replace(staged, target)
        else:
            _swap_folder_in(staged, target)
        remove_leftovers(parent, target.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if handle is not None:
            os.close(handle)
