"""The import rule of DESIGN.md / CONTRIBUTING.md, enforced.

* No import cycle inside ``gan_augment``: every ``import`` / ``from ... import`` statement of
  every module (module level and inside functions, i.e. lazy imports too) is an edge of the
  module graph, and that graph must be acyclic.
* Loading a bundled generator and generating once imports no training code: run in a fresh
  interpreter, then ``sys.modules`` is inspected.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import gan_augment

PACKAGE_DIR = Path(gan_augment.__file__).resolve().parent
TRAINING_ONLY = (
    "gan_augment.training", "gan_augment.recipe", "gan_augment.train_data", "gan_augment.data", "gan_augment.domains",
    "gan_augment.export", "gan_augment.checkpoint", "gan_augment.ema", "gan_augment.models.projected", "tqdm", "skimage",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_graph() -> dict[str, set[str]]:
    """Module -> the ``gan_augment`` modules it imports (any statement, any nesting level)."""
    files = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}

    def target(name: str) -> str | None:
        # ``from gan_augment.models import pix2pix`` imports the submodule when it is one
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node)
                found = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            for imported in found:
                if imported.split(".")[0] != "gan_augment":
                    continue
                t = target(imported)
                if t is not None and t != name:
                    graph[name].add(t)
                    # importing a submodule runs its parent packages' __init__ first
                    parent = t.rpartition(".")[0]
                    while parent and parent != "gan_augment":
                        if parent != name and not name.startswith(parent + "."):
                            graph[name].add(parent)
                        parent = parent.rpartition(".")[0]
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_cycle_finder_finds_a_circle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_package() -> None:
    graph = import_graph()
    assert graph.get("gan_augment.synthesizer"), "the graph parser found no edges"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles (each a set of modules that import each other around a circle): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


LEAVES = (
    "gan_augment._version",
    "gan_augment.constants",
    "gan_augment.devices",
    "gan_augment.distributed",
    "gan_augment.ema",
    "gan_augment.evidence_stats",
    "gan_augment.functional",
    "gan_augment.lesion_box",
    "gan_augment.mask_agreement",
    "gan_augment.recipe",
    "gan_augment.registry",
)
"""The bottom layer: registry table, recipe interface, file-name constants, pure torch helpers (the generator's moving average among them),
the numpy statistics of the evidence scripts."""


def test_leaves_import_only_leaves() -> None:
    graph = import_graph()
    for leaf in LEAVES:
        assert graph[leaf] <= set(LEAVES), f"{leaf} is a leaf but imports {sorted(graph[leaf] - set(LEAVES))}"
    # the registry table and the file-name constants import nothing at all
    assert graph["gan_augment.registry"] == graph["gan_augment.constants"] == set()


def test_model_files_import_only_leaves() -> None:
    """A network file (not its ``*_recipe.py``) imports only leaves, shared blocks and its
    own helpers, never the training loop, data readers or another model's recipe."""
    graph = import_graph()
    allowed_prefixes = ("gan_augment.models._", "gan_augment.models.pix2pixhd_maps")
    for name, imports in graph.items():
        if not name.startswith("gan_augment.models.") or name.endswith("_recipe") or name == "gan_augment.models.projected":
            continue
        bad = {m for m in imports if m not in LEAVES and m != "gan_augment.models" and not m.startswith(allowed_prefixes)}
        assert not bad, f"{name} imports {sorted(bad)}; a model file imports only leaves (see CONTRIBUTING.md)"


_INFERENCE_SCRIPT = """
import json, sys
import torch
before = set(sys.modules)  # torch itself imports tqdm (torch.hub): only what gan_augment adds counts
import gan_augment as ga
g = ga.from_pretrained("mask2lesion-isic2017-128", device="cpu")
masks = torch.zeros(1, 1, 64, 64)
masks[:, :, 16:48, 20:44] = 1
out = g.generate(masks=masks, seed=0)
assert out.shape == (1, 3, 64, 64), out.shape
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.startswith(("gan_augment", "tqdm", "skimage")))))
"""


def test_inference_imports_no_training_code() -> None:
    """``from_pretrained`` on a bundled model + one generation, in a fresh interpreter: no
    training loop, recipe, data reader, progress bar (``tqdm.auto``) or scikit-image."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(PACKAGE_DIR.parent)}
    result = subprocess.run([sys.executable, "-c", _INFERENCE_SCRIPT], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    bad = [m for m in loaded if m in TRAINING_ONLY or m.startswith(tuple(f"{t}." for t in TRAINING_ONLY)) or m.endswith("_recipe")]
    assert not bad, f"loading a generator for inference imported training-only modules: {bad}"


def test_every_lazy_import_says_why() -> None:
    """An import inside a function carries a comment (on its line, or opening the block of
    import lines it belongs to) saying why it is not at the top of the module."""
    silent = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for sub in ast.walk(node):
                if not isinstance(sub, (ast.Import, ast.ImportFrom)):
                    continue
                i = sub.lineno - 1
                if "#" in lines[sub.end_lineno - 1] or "#" in lines[i]:
                    continue
                j = i - 1  # walk up over the import block (imports, blank lines, continuation lines)
                while j >= 0 and (not lines[j].strip() or lines[j].lstrip().startswith(("import ", "from ", ")")) or lines[j].startswith(" " * 8) and lines[j].rstrip().endswith(",")):
                    j -= 1
                if j < 0 or not lines[j].lstrip().startswith("#"):
                    silent.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{sub.lineno}: {lines[i].strip()}")
    assert not silent, "lazy imports without a comment saying why:\n" + "\n".join(silent)
