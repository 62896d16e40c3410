"""How much memory this process may still use, read before any large array is made.

The least of three limits, each where the system reports it: the memory the kernel has
available (``MemAvailable`` of /proc/meminfo, else the physical memory from
``os.sysconf``), a container's cgroup limit less its usage (v2 ``memory.max``, v1
``memory.limit_in_bytes``), and the address space left under ``RLIMIT_AS`` (``ulimit
-v``). Like ``optimizer.errors``, every stage may import this module: loading, scenario
sampling and the model's memory estimate all check against it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
"""Where the cgroup file systems are mounted (v2 unified, or v1 with ``memory/``)."""

SELF_CGROUP = Path("/proc/self/cgroup")
"""The cgroups this process belongs to, one line each: ``id:controllers:path``."""

MEMINFO = Path("/proc/meminfo")

NO_LIMIT = 2.0**60
"""A cgroup v1 limit at or above this (bytes) means none (the kernel writes ~2**63)."""

HEADROOM = 0.9
"""Share of the memory available that a stage may plan to use."""


def shown(size: float) -> str:
    """A size in bytes as people read it: ``"12.3 GB"``, or ``"48 MB"`` below 1 GB."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def available_bytes() -> float | None:
    """Memory this process may still use (bytes), or None when the system reports none.

    The least of ``system_available_bytes``, ``cgroup_available_bytes`` and
    ``address_space_available_bytes``. When none is known, a ``RuntimeWarning`` says
    that memory is not checked.
    """
    known = [value for value in (system_available_bytes(), cgroup_available_bytes(),
                                 address_space_available_bytes())
             if value is not None]
    if not known:
        warnings.warn("memory not checked: this system reports neither its available memory "
                      "nor a memory limit", RuntimeWarning, stacklevel=1)
        return None
    return max(0.0, min(known))


def system_available_bytes(meminfo: Path | None = None) -> float | None:
    """``MemAvailable`` (bytes), else the physical memory from ``os.sysconf``, else None.

    ``meminfo`` is the file to read, /proc/meminfo (``MEMINFO``) by default.
    """
    try:
        with (meminfo or MEMINFO).open(encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    sysconf = getattr(os, "sysconf", None)
    if sysconf is None:
        return None
    try:
        return float(sysconf("SC_PAGE_SIZE") * sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError):
        return None


def cgroup_available_bytes(root: Path | None = None,
                           self_cgroup: Path | None = None) -> float | None:
    """Limit less usage of the tightest cgroup memory limit over this process's cgroups.

    Every level from the process's own cgroup up to ``root`` is read, in both the v2
    layout (``memory.max``, ``memory.current``) and the v1 layout (``memory/``,
    ``memory.limit_in_bytes``, ``memory.usage_in_bytes``). Page cache the kernel can
    drop (``inactive_file`` of ``memory.stat``) is not counted as used. None when no
    level sets a limit. ``root`` and ``self_cgroup`` default to ``CGROUP_ROOT`` and
    ``SELF_CGROUP``.
    """
    root = root or CGROUP_ROOT
    paths = _membership(self_cgroup or SELF_CGROUP)
    layouts = (
        (root, paths.get("", "/"), ("memory.max", "memory.current", "inactive_file")),
        (root / "memory", paths.get("memory", "/"),
         ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")),
    )
    found: list[float] = []
    for base, relative, files in layouts:
        for folder in _up_to(base, relative):
            free = _cgroup_free(folder, *files)
            if free is not None:
                found.append(free)
    return min(found) if found else None


def _membership(self_cgroup: Path) -> dict[str, str]:
    """The cgroup path of each controller ("" for v2's unified hierarchy)."""
    paths: dict[str, str] = {}
    try:
        lines = self_cgroup.read_text(encoding="ascii").splitlines()
    except (OSError, ValueError):
        return paths
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _up_to(base: Path, relative: str) -> list[Path]:
    """The folders from ``base / relative`` up to ``base`` itself that exist."""
    folder = base / relative.strip("/")
    chain = [folder, *folder.parents]
    if base not in chain:  # a path that leaves base: read base only
        chain = [base]
    return [p for p in chain[:chain.index(base) + 1] if p.is_dir()]


def _cgroup_free(folder: Path, limit_file: str, usage_file: str, cache_key: str
                 ) -> float | None:
    limit = _read_number(folder / limit_file)
    if limit is None or limit >= NO_LIMIT:
        return None
    usage = _read_number(folder / usage_file) or 0.0
    cache = 0.0
    try:
        for line in (folder / "memory.stat").read_text(encoding="ascii").splitlines():
            key, _, value = line.partition(" ")
            if key == cache_key:
                cache = float(value)
    except (OSError, ValueError):
        pass
    return limit - max(0.0, usage - cache)


def _read_number(file: Path) -> float | None:
    """A number from a cgroup file; None when absent, unreadable or ``max`` (no limit)."""
    try:
        text = file.read_text(encoding="ascii").strip()
        return None if text == "max" else float(text)
    except (OSError, ValueError):
        return None


def address_space_available_bytes(status: Path = Path("/proc/self/status")) -> float | None:
    """Address space left under ``RLIMIT_AS`` (``ulimit -v``), or None without a limit.

    What is used is ``VmSize`` of ``status``; where it cannot be read, the whole limit.
    """
    try:
        import resource
    except ImportError:  # not on this system
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0.0
    try:
        for line in status.read_text(encoding="ascii").splitlines():
            if line.startswith("VmSize:"):
                used = float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return float(soft) - used
