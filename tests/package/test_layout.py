"""The house rules of the layout, checked from the source: no import cycle, no private name
imported across modules, no module over 600 lines; old import paths still work and warn.

The import graph is read with :mod:`ast` (nothing is imported), and it includes imports made
inside functions, which a lazy import would otherwise hide from a module-level check.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "metacot"
LIMIT = 600


def module_files() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def import_edges(mods: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Edges module -> imported metacot module, and the private names imported across modules."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private = []
    for mod, path in mods.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = mod.split(".") if is_package else mod.split(".")[:-1]
                    base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
                targets = [(f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base, a.name) for a in node.names]
            else:
                continue
            for target, name in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                # A package importing its own children is how a package is assembled, not a cycle.
                if not target or target == mod or (is_package and target.startswith(mod + ".")):
                    continue
                edges[mod].add(target)
                if name and name.startswith("_") and not name.startswith("__"):
                    private.append(f"{mod} imports {target}.{name}")
    return edges, private


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_cycle_finder_sees_a_planted_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(edges) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    edges, _ = import_edges(module_files())
    assert find_cycles(edges) == []


def test_no_private_name_crosses_a_module():
    _, private = import_edges(module_files())
    assert private == []


def test_lower_floors_do_not_import_higher_ones():
    """markov and simulation know nothing of traces; graphs knows nothing of synth."""
    edges, _ = import_edges(module_files())
    forbidden = {
        "metacot.markov": ("metacot.simulation", "metacot.traces", "metacot.graphs", "metacot.structure",
                           "metacot.synth", "metacot.llm", "metacot.theory"),
        "metacot.simulation": ("metacot.traces", "metacot.graphs", "metacot.structure", "metacot.synth",
                               "metacot.llm", "metacot.theory"),
        "metacot.traces": ("metacot.graphs", "metacot.synth", "metacot.structure"),
        "metacot.graphs": ("metacot.synth",),
        "metacot.llm": ("metacot.graphs", "metacot.synth", "metacot.structure"),
    }
    bad = [f"{m} -> {t}" for m, targets in edges.items() for floor, above in forbidden.items()
           if m == floor or m.startswith(floor + ".") for t in targets if t.startswith(above)]
    assert bad == []


@pytest.mark.parametrize("folder", ["metacot", "experiments"])
def test_no_module_over_600_lines(folder):
    long = {str(p.relative_to(ROOT)): n for p in sorted((ROOT / folder).rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT}
    assert long == {}


def test_experiments_do_not_import_one_another():
    """Shared statistics live in the package; experiments may share only _-prefixed plumbing."""
    ids = {p.stem for p in (ROOT / "experiments").glob("[a-z]*.py")}
    bad = []
    for path in (ROOT / "experiments").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            module = node.module or ""
            if node.level == 0 and module != "experiments" and not module.startswith("experiments."):
                continue
            leaves = [module.rpartition(".")[2]] if "." in module or (node.level and module) else []
            if module == "experiments" or (node.level and not module):
                leaves = [a.name for a in node.names]
            bad += [f"{path.name} imports {leaf}" for leaf in leaves if leaf in ids - {"ledger"}]
    assert bad == []


def test_every_subpackage_is_an_attribute():
    import metacot as mc

    for name in ("markov", "simulation", "theory", "llm", "traces", "graphs", "structure", "synth",
                 "exact", "families", "graph", "fit", "label", "hierarchical", "dynamics", "geometry",
                 "pcca", "path_laws", "transforms", "sweep", "plots", "errors", "behaviours"):
        assert getattr(mc, name).__name__.startswith("metacot."), name
    assert mc.Chain is importlib.import_module("metacot.markov.chain").Chain
    assert mc.fit_graph.__module__.startswith("metacot.graphs")


def test_import_metacot_stays_light():
    """``import metacot`` loads none of the heavy dependencies (measured in a fresh interpreter)."""
    code = ("import sys, metacot; heavy = ['numba', 'scipy.sparse.linalg', 'pymc', 'torch', 'pandas', "
            "'matplotlib', 'llama_cpp', 'httpx']; print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("old", "new"), [
    ("metacot.exact", "metacot.markov.exact"),
    ("metacot.graph", "metacot.graphs.graph"),
    ("metacot.kernels.rng", "metacot.simulation.kernels.rng"),
    ("metacot.synth.samplers", "metacot.llm.samplers"),
])
def test_old_import_paths_warn_and_give_the_same_module(old, new):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)


def test_old_from_import_still_works():
    code = ("import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            "try:\n    from metacot.exact import hitting_times\nexcept DeprecationWarning as w:\n    print('warned', w)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.startswith("warned metacot.exact moved to metacot.markov.exact")
