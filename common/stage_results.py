"""What the stages return, as one dataclass each, used alike by the stage's inference code, its service and the
orchestrator's pipeline (so no caller unpacks a tuple in its own order).

An array field holds a numpy array inside a stage, and in the orchestrator the stage's compact wire form
(`{"dtype", "shape", "data"}`), which it passes on to the next stage or its client without decoding."""
from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray | dict


@dataclass
class TextMel:
    """One text's mel from the synthesizer: its sentences' mels joined by a short silence."""
    mel: Array                   # (80, T) log-mel
    stopped: bool                # every sentence ended by its stop token (none ran on to the frame cap)
    sentences: list[str]
    alignments: list[Array] = field(default_factory=list)   # one (decoder steps, characters) per sentence


@dataclass
class EncodedAudio:
    """An audio file made by the vocoder, as its client receives it."""
    data: bytes
    media_type: str
    samples: int                 # at 16 kHz
