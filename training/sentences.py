"""English sentences for the synthetic corpus, from Debian's `fortunes` or any text file."""
import random
import re
from pathlib import Path

FORTUNE_DIR = Path("/usr/share/games/fortunes")
_ALLOWED = re.compile(r"^[A-Za-z0-9 ,.'?!;:\-\"]+$")


def _candidates(text: str):
    for block in text.split("\n%\n"):
        block = " ".join(block.split())
        for sentence in re.split(r"(?<=[.!?])\s+", block):
            if 25 <= len(sentence) <= 140 and _ALLOWED.match(sentence) and sentence[0].isupper() \
                    and len(sentence.split()) >= 5 and not sentence.isupper():
                yield sentence


def load_sentences(sources: list[Path] | None = None, seed: int = 0) -> list[str]:
    """Unique, shuffled-by-seed sentences of 5+ words in plain ASCII (every engine reads them alike)."""
    files = sources or sorted(p for p in FORTUNE_DIR.iterdir() if p.is_file() and p.suffix == "")
    seen, out = set(), []
    for path in files:
        for s in _candidates(path.read_text(encoding="utf-8", errors="ignore")):
            if s.lower() not in seen:
                seen.add(s.lower())
                out.append(s)
    random.Random(seed).shuffle(out)
    return out
