"""Timing, machine description and table printing for the benchmarks."""
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import torch

# The reference voice every benchmark clones (here, not in __main__, so benchmark modules need not import it).
REFERENCE = str(Path(__file__).resolve().parents[1] / "tests" / "data" / "ref_slt.wav")


@contextmanager
def timed(out: dict, key: str):
    start = time.perf_counter()
    yield
    out[key] = time.perf_counter() - start


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads)")


def table(rows: list[dict], columns: list[str]) -> str:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"
    return "\n".join([line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def replace_section(out: Path, heading: str, text: str) -> None:
    """Put `text` (which starts with `heading`) in place of that section of the results file, or append it.
    In place, not moved to the end: the sections after it comment on its figures."""
    old = out.read_text() if out.exists() else ""
    if heading in old:
        start = old.index(heading)
        end = old.find("\n## ", start + len(heading))
        rest = old[end + 1:] if end != -1 else ""
        out.write_text(old[:start] + text.rstrip("\n") + "\n" + ("\n" + rest if rest else ""))
        return
    out.write_text(old.rstrip() + "\n\n" + text)
