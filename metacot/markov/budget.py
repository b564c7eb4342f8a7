"""Memory budgets: refuse a request that cannot fit before allocating anything for it.

A chain's arrays are sized by its declared shape, so a sparse matrix declared with :math:`10^9`
states needs gigabytes before its first entry is read. Constructors estimate what they will need,
compare it with the memory the machine has available now, and raise
:class:`~metacot.errors.MemoryBudgetError` (a :class:`MemoryError`) with the figures instead of
letting NumPy fail halfway, or the kernel's out-of-memory killer end the process.
"""

from __future__ import annotations

from metacot.errors import MemoryBudgetError

__all__ = ["available_memory", "check_budget"]


def available_memory() -> int | None:
    """Bytes of memory available without swapping (``MemAvailable``), or ``None`` if unknown.

    Examples
    --------
    >>> m = available_memory()
    >>> m is None or m > 0
    True
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        return None


def check_budget(need: int, what: str) -> None:
    """Raise :class:`MemoryBudgetError` if ``need`` bytes exceed the memory available now.

    Nothing is checked when the available memory cannot be read.

    Examples
    --------
    >>> check_budget(1024, "a small table")
    >>> check_budget(2**80, "a huge table")
    Traceback (most recent call last):
    ...
    metacot.errors.MemoryBudgetError: a huge table needs about 1.13e+15 GiB, more than the ... available
    """
    avail = available_memory()
    if avail is not None and need > avail:
        raise MemoryBudgetError(
            f"{what} needs about {need / 2**30:.3g} GiB, more than the {avail / 2**30:.3g} GiB available"
        )
