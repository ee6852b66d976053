"""The package's layout: no import cycle between modules, no import of a higher layer, a light `Reader`.

The module graph is read with `ast`, so no module is imported to build it; it
counts the imports inside functions (the lazy ones) as well as those at the top.
"""

import ast
import pathlib
import subprocess
import sys
import textwrap

import captcha_keras

PACKAGE = pathlib.Path(captcha_keras.__file__).resolve().parent

# Each package or module and its layer, lowest first: a module imports only
# modules of its own layer or of lower ones. A module takes the layer of its
# longest listed prefix; `captcha_keras` itself (the package's __init__) is
# listed for itself alone, so that a new package must be given a layer here.
LAYERS = {
    # Base: helpers with no knowledge of models, data or reading.
    "captcha_keras.charset": 0,  # the alphabets, label encoding
    "captcha_keras.arithmetic": 0,  # arithmetic questions and their answers
    "captcha_keras.images": 0,  # decoding and resizing images
    "captcha_keras.runs": 0,  # run folder file names, RunConfig, finding runs
    "captcha_keras.quiet": 0,  # TensorFlow's start-up noise
    "captcha_keras.precision": 0,  # mixed precision policies
    "captcha_keras.plots": 0,  # pictures of histories and predictions
    # Model builders and losses: a model owns its output names and knows no data source.
    "captcha_keras.models": 1,
    # Data: synthetic streams, labelled folders, dataset tools, and the targets
    # each model family trains on (so it may read a model's output names).
    "captcha_keras.data": 2,
    # Reading captchas with a trained run; the package's __init__ hands out its `Reader`.
    "captcha_keras.inference": 3,
    "captcha_keras": 3,
    # Scores, and scoring a `Reader` on data: above both data and inference.
    "captcha_keras.evaluation": 4,
    # Exports of a finished run: below training, which exports at the end of a run.
    "captcha_keras.export": 5,
    "captcha_keras.training": 6,
    # The programs: the HTTP service, then the command line (which starts the service).
    "captcha_keras.serving": 7,
    "captcha_keras.cli": 8,
    "captcha_keras.__main__": 8,
}

# What `from captcha_keras import Reader` must leave unimported: reading an
# image needs no training code, no model builder, no data stream, no Keras.
NOT_FOR_READING = (
    "captcha_keras.training",
    "captcha_keras.models",
    "captcha_keras.data",
    "keras",
    "tensorflow",
)


def module_files():
    """Every module of the package: `{dotted name: path}`."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_names(name, path):
    """Every `captcha_keras` name that module `name` imports, anywhere in it: `{name: line}`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parents + ([base] if base else []))
            # `from package import name` imports a submodule or a name of the package: both are resolved below.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            targets = [node.args[0].value]
        else:
            continue
        for target in targets:
            if target == "captcha_keras" or target.startswith("captcha_keras."):
                found.setdefault(target, node.lineno)
    return found


def module_graph():
    """`{module: {imported module: line}}` over the package's own modules, self-imports left out."""
    modules = module_files()

    def resolve(target):
        # The longest module a dotted name starts with: `captcha_keras.runs.RunConfig` is `captcha_keras.runs`.
        while target not in modules:
            target = target.rpartition(".")[0]
        return target

    graph = {}
    for name, path in modules.items():
        edges = {}
        for target, line in imported_names(name, path).items():
            module = resolve(target)
            if module != name:
                edges.setdefault(module, line)
        graph[name] = edges
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def layer_of(module):
    """The layer of a module: its longest prefix in `LAYERS` (the bare package by exact name only)."""
    if module in LAYERS:
        return LAYERS[module]
    prefix = module.rpartition(".")[0]
    while prefix and prefix != "captcha_keras":
        if prefix in LAYERS:
            return LAYERS[prefix]
        prefix = prefix.rpartition(".")[0]
    return None


def test_the_graph_sees_lazy_imports():
    # A sanity check of the reader of the graph: the package's `Reader` is a lazy import in a function.
    graph = module_graph()
    assert "captcha_keras.inference.reader" in graph["captcha_keras"]
    assert "captcha_keras.runs" in graph["captcha_keras.inference.reader"]


def test_no_import_cycles():
    graph = module_graph()
    found = cycles(graph)
    lines = []
    for component in found:
        lines.append(" <-> ".join(component))
        lines.extend(
            f"    {module} imports {other} (line {line})"
            for module in component
            for other, line in sorted(graph[module].items())
            if other in component
        )
    assert not found, "Modules that import each other (directly or in a cycle):\n" + "\n".join(lines)


def test_every_module_has_a_layer():
    unplaced = sorted(module for module in module_graph() if layer_of(module) is None)
    assert not unplaced, f"Give these modules a layer in LAYERS of tests/test_layout.py: {unplaced}"


def test_no_module_imports_a_higher_layer():
    graph = module_graph()
    upward = [
        f"{module} (layer {layer_of(module)}) imports {other} (layer {layer_of(other)}), line {line}"
        for module, edges in sorted(graph.items())
        for other, line in sorted(edges.items())
        if layer_of(module) is not None and layer_of(other) is not None and layer_of(other) > layer_of(module)
    ]
    assert not upward, "Imports of a higher layer:\n" + "\n".join(upward)


def test_reading_imports_no_training_models_data_or_keras():
    # In a fresh interpreter: this one has imported Keras for other tests.
    code = textwrap.dedent(
        f"""
        import sys
        import captcha_keras
        from captcha_keras import Reader
        forbidden = {NOT_FOR_READING!r}
        loaded = sorted(
            name for name in sys.modules if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        print("\\n".join(loaded))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = result.stdout.split()
    assert not loaded, f"`from captcha_keras import Reader` imported: {loaded}"
