"""The package's floors (README, Architecture): imports run one way, with no cycle, and no
module outgrows one job. Read from the source with `ast`, so a new import that breaks a rule
fails here with the importing file and the imported module named."""
import ast

import pytest

from conftest import ROOT

PACKAGE = ROOT / "paddle_srgan"
MAX_LINES = 400

# The floor a module sits on; it may import its own floor and those below it, never above.
# A settings module declares its subsystem's config section and sits on config's floor,
# whatever its folder; so does the metrics table, which the config reads.
FLOORS = [
    ("base", ["", "errors", "levels", "memory", "compat", "config_rules", "config",
              "loss_settings", "train_settings", "data.settings", "metrics.table", "storage",
              "unpickler", "safe_load", "native_log"]),
    ("core", ["data", "models", "losses", "usm", "metrics", "checkpoint", "checkpoint_check",
              "published_weights"]),
    ("run", ["evaluation", "deploy", "cli"]),  # cli: the tools' flags and one-line errors
    ("train", ["engine"]),
]


def module_name(path):
    """'paddle_srgan/data/io.py' -> 'data.io'; a package's __init__ -> the package."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def floor_of(name):
    """The index in FLOORS of the most specific entry naming `name` or a parent of it."""
    best = None
    for index, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if name == prefix or (prefix and name.startswith(prefix + ".")):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{name} sits on no floor of tests/test_layers.py: add it"
    return best[0]


def imports_of(path, top_level_only):
    """The package modules the file `path` imports ('data.io', ...); lazy imports inside
    functions too unless `top_level_only`."""
    return imports_in(path.read_text(), module_name(path), path.name == "__init__.py",
                      top_level_only)


def imports_in(source, name, is_package, top_level_only=False):
    """The package modules that `source`, the text of module `name`, imports."""
    tree = ast.parse(source)
    package = name.split(".") if is_package else name.split(".")[:-1]
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "paddle_srgan":
                target = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:  # `from . import x` may name a module
                candidate = ".".join(target + [alias.name])
                found.add(candidate if is_module(candidate) else ".".join(target))
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".", 1)[1] for a in node.names
                         if a.name.startswith("paddle_srgan."))
    return {module for module in found if module}


def is_module(name):
    path = PACKAGE.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_never_reach_a_higher_floor(name):
    """tools -> engine -> evaluation / deploy -> checkpoint, models, data, losses, metrics,
    published_weights -> config and its settings, storage, loaders, compat, errors."""
    mine = floor_of(name)
    for target in imports_of(MODULES[name], top_level_only=False):
        assert floor_of(target) <= mine, (
            f"{MODULES[name].relative_to(ROOT)} imports {target}, a floor above its own "
            f"({FLOORS[floor_of(target)][0]} > {FLOORS[mine][0]})")


def test_deployment_and_evaluation_import_nothing_from_training():
    for name, path in MODULES.items():
        if name.startswith(("deploy", "evaluation")):
            bad = [t for t in imports_of(path, top_level_only=False) if t.startswith("engine")]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
        if name.startswith("evaluation"):
            bad = [t for t in imports_of(path, top_level_only=False) if t.startswith("deploy")]
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_no_import_cycle():
    graph = {name: imports_of(path, top_level_only=True) & set(MODULES)
             for name, path in MODULES.items()}
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", "import cycle: " + " -> ".join(trail + [name])
        state[name] = "open"
        for target in sorted(graph[name]):
            visit(target, trail + [name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])


def test_no_module_outgrows_one_job():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_rules_see_a_violation():
    """The checks above read real imports, relative and absolute, lazy and top-level."""
    source = ("from ..errors import InputError\nfrom . import io\n"
              "def f():\n    from paddle_srgan.engine import trainer\n")
    assert imports_in(source, "data.planted", False) == {"errors", "data.io", "engine.trainer"}
    assert imports_in(source, "data.planted", False, top_level_only=True) == {"errors",
                                                                              "data.io"}
    assert floor_of("engine.trainer") > floor_of("data.planted")
    assert floor_of("data.settings") < floor_of("data.io")  # the most specific entry wins
