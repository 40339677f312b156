"""What the stages return, as one dataclass each, used alike by the stage's inference code, its service and the
orchestrator's pipeline (so no caller unpacks a tuple in its own order).

An array field holds a numpy array inside a stage, and in the orchestrator the stage's compact wire form
(`{"dtype", "shape", "data"}`), which it passes on to the next stage or its client without decoding."""
from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray | dict


@dataclass
class SpeakerEmbedding:
    """A reference's speaker embedding from the encoder."""
    embedding: Array             # (256,) unit norm
    vad_trimmed: bool            # silences cut by the VAD first (False: it found too little speech, so none were)
    duration_s: float            # of the 16 kHz reference as given (before any trimming)
    partials: Array | None = None   # (n, 256): one embedding per 1.6 s window, averaged into `embedding`


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
    samples: int                 # at the vocoder's rate
    sample_rate: int             # of the encoded audio (pcm 24 kHz, opus 48 kHz, else the vocoder's)
    duration_s: float
