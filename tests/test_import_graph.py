"""The layering of genad's modules, read from their source with `ast` (nothing is imported).

Models know nothing of the engine, the CLI or DDP; a registered model never imports another
registered model (shared pieces live in non-registering modules such as models/gan_common.py);
only `python -m genad` reaches the CLI; and the core (engine, io, Trainable, registry, models)
imports without cycles at module scope.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


TREES = {_module_name(p): ast.parse(p.read_text(), str(p)) for p in SRC.glob("genad/**/*.py")}


def _imported(node: ast.Import | ast.ImportFrom) -> set[str]:
    """The modules an import statement names: `from a import b` names a.b if that is a
    genad module (or may be a submodule outside genad), else a."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names}
    base = node.module or ""
    subs = {f"{base}.{alias.name}" for alias in node.names}
    if base.startswith("genad"):
        return {s for s in subs if s in TREES} or {base}
    return {base, *subs}


def _imports(tree: ast.AST, top_level_only: bool = False) -> set[str]:
    """Every module `tree` imports; with top_level_only, only those imported when the module
    itself is (module scope, if/try blocks included, `if TYPE_CHECKING:` excluded)."""
    found: set[str] = set()
    todo = list(ast.iter_child_nodes(tree))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= _imported(node)
        if top_level_only and (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            or isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        ):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return found


def _registers(tree: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", "")) == "register"
        for n in ast.walk(tree)
    )


def _within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offending(modules: set[str], allowed: Callable[[str, str], bool]) -> list[str]:
    """'a imports b' for each import b of a module a in `modules` that `allowed(a, b)` refuses."""
    return [f"{a} imports {b}" for a in sorted(modules) for b in sorted(_imports(TREES[a]))
            if not allowed(a, b)]


MODELS = {m for m in TREES if _within(m, "genad.models")}
REGISTERED = {m for m in TREES if _registers(TREES[m])}


def test_models_know_nothing_of_the_engine_cli_or_ddp() -> None:
    banned = ("genad.train", "genad.io", "genad.cli", "genad.experiment", "torch.distributed")
    bad = _offending(MODELS, lambda a, b: not _within(b, *banned))
    assert not bad, "\n".join(bad)
    # nor read the environment (WORLD_SIZE and the like are the engine's business)
    env = ("environ", "getenv")
    readers = [m for m in sorted(MODELS) for n in ast.walk(TREES[m])
               if getattr(n, "attr", getattr(n, "id", None)) in env]
    assert not readers, f"read os.environ: {readers}"


def test_registered_models_import_no_other_registered_model() -> None:
    assert {"genad.models.ae", "genad.models.vae"} <= REGISTERED  # the detection works
    bad = _offending(REGISTERED, lambda a, b: b == a or b not in REGISTERED)
    assert not bad, "\n".join(bad)


def test_only_main_imports_the_cli() -> None:
    bad = _offending(set(TREES), lambda a, b: b != "genad.cli" or a == "genad.__main__")
    assert not bad, "\n".join(bad)


def test_core_has_no_import_cycle_at_module_scope() -> None:
    core = ({"genad.train", "genad.io", "genad.trainable", "genad.registry"} & set(TREES)) | MODELS
    graph = {m: _imports(TREES[m], top_level_only=True) & core for m in core}
    done: set[str] = set()

    def visit(m: str, path: list[str]) -> None:
        if m in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(m):], m]))
        if m not in done:
            for n in sorted(graph[m]):
                visit(n, [*path, m])
            done.add(m)

    for m in sorted(core):
        visit(m, [])
