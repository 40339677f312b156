"""The code's shape that issue 28 asks to keep: no import circles between the project's modules, and no
function over 80 lines in the services and `common/` (long ones hide several jobs)."""
import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("common", "encoder_svc", "synthesizer_svc", "vocoder_svc", "orchestrator_svc", "training", "bench",
            "voxclone")
SERVICES = ("common", "encoder_svc", "synthesizer_svc", "vocoder_svc", "orchestrator_svc")
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, name: str, known: dict) -> set[str]:
    """The project modules `path` imports at module level or inside functions (both can close a circle at
    import time or at first call); `if TYPE_CHECKING:` blocks count too, being the same dependency."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        out |= {t for t in targets if t in known and t != name}
    return out


def test_no_import_circles():
    known = modules()
    # a package's __init__ importing its own submodules is how packages export names, not a circle
    graph = {name: {t for t in imports(path, name, known) if not t.startswith(name + ".")}
             for name, path in known.items()}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"
    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_no_function_over_80_lines_in_the_services():
    long = []
    for package in SERVICES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
