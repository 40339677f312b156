"""Built-in voices shipped with the repo: GE2E embeddings of openly licensed voices (orchestrator_svc/builtin/,
rebuilt by `python -m training.builtin_voices`), and OpenAI's voice names mapped onto them."""
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

BUILTIN = Path(__file__).parent / "builtin"


@dataclass(frozen=True)
class BuiltinVoice:
    name: str
    gender: str
    accent: str
    source: str
    licence: str
    openai_names: tuple[str, ...]
    embedding: np.ndarray


@lru_cache(maxsize=1)
def builtin_voices() -> dict[str, BuiltinVoice]:
    manifest = json.loads((BUILTIN / "manifest.json").read_text())["voices"]
    embeddings = json.loads((BUILTIN / "embeddings.json").read_text())
    return {v["name"]: BuiltinVoice(v["name"], v["gender"], v["accent"], v["source"], v["licence"],
                                    tuple(v["openai_names"]), np.asarray(embeddings[v["name"]], dtype=np.float32))
            for v in manifest}


@lru_cache(maxsize=1)
def openai_names() -> dict[str, str]:
    """OpenAI voice name -> built-in voice name."""
    return {alias: v.name for v in builtin_voices().values() for alias in v.openai_names}


def find_builtin(name: str) -> BuiltinVoice | None:
    """A built-in voice by its own name or an OpenAI name, any case."""
    key = name.strip().lower()
    voices = builtin_voices()
    return voices.get(key) or voices.get(openai_names().get(key, ""))


def voice_names() -> list[str]:
    """Every name find_builtin knows (in lower case): the built-ins' own and OpenAI's."""
    return sorted({*builtin_voices(), *openai_names()})
