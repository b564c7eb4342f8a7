"""Lazy attributes for a package: submodules and names that load on first access.

``import metacot`` must stay cheap (numba, scipy.sparse.linalg, PyMC and torch load only when a
function that needs them runs), yet every subpackage and public name should be reachable as an
attribute, ``mc.exact.hitting_times`` or ``mc.fit_graph``. :func:`attach` returns the module-level
``__getattr__`` and ``__dir__`` (PEP 562) that import the owning module on first access and cache
the result in the package namespace.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def attach(package: str, namespace: dict[str, Any], *, modules: Mapping[str, str] | Iterable[str] = (),
           names: Mapping[str, str] | None = None) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Make ``modules`` and ``names`` lazy attributes of ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    namespace : dict
        The package's ``globals()``; a loaded attribute is stored there, so ``__getattr__`` runs
        once per name.
    modules : mapping or iterable of str
        Attribute name -> absolute module path; a plain name ``x`` means ``f"{package}.x"``.
    names : mapping, optional
        Attribute name -> absolute path of the module that defines it.

    Returns
    -------
    (__getattr__, __dir__)

    Examples
    --------
    >>> ns = {}
    >>> getattr_, dir_ = attach("pkg", ns, modules={"fractions": "fractions"}, names={"sqrt": "math"})
    >>> getattr_("sqrt")(4.0), "fractions" in dir_()
    (2.0, True)
    >>> getattr_("nothing")
    Traceback (most recent call last):
    ...
    AttributeError: module 'pkg' has no attribute 'nothing'
    """
    if isinstance(modules, Mapping):
        mods = dict(modules)
    else:
        mods = {m: f"{package}.{m}" for m in modules}
    attrs = dict(names or {})

    def __getattr__(name: str) -> Any:
        if name in mods:
            value = importlib.import_module(mods[name])
        elif name in attrs:
            value = getattr(importlib.import_module(attrs[name]), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(mods) | set(attrs))

    return __getattr__, __dir__
