"""Every synthesizer setting, from the environment (see README "Settings")."""
from pydantic import Field, field_validator

from common.accents import NAMED_ACCENTS
from common.config import StageSettings
from common.paths import DEFAULT_SPEAKER_MEAN, DEFAULT_SYNTHESIZER
from common.voicing import SPEAKER_EMPHASIS_BOUNDS


def parse_accent_checkpoints(value: str) -> dict[str, str]:
    """`british=/path/a.pt,american=/path/b.pt` -> {accent: path}; empty entries are dropped."""
    out: dict[str, str] = {}
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        accent, sep, path = (part.strip() for part in entry.partition("="))
        if not sep or not path:
            raise ValueError(f"{entry!r} is not accent=path")
        if accent not in NAMED_ACCENTS:
            raise ValueError(f"{accent!r} is not one of {', '.join(NAMED_ACCENTS)}")
        if accent in out:
            raise ValueError(f"{accent!r} is given twice")
        out[accent] = path
    return out


class SynthesizerSettings(StageSettings):
    port: int = 8002
    synthesizer_checkpoint: str = str(DEFAULT_SYNTHESIZER)
    synthesizer_accent_checkpoints: str = Field(
        "", description="comma-separated accent=path pairs (british=/path/a.pt): one more Tacotron per named "
                        "accent, loaded at start-up beside SYNTHESIZER_CHECKPOINT; empty: `auto` only")
    synthesizer_speaker_emphasis: float | None = Field(
        None, **SPEAKER_EMPHASIS_BOUNDS, description="default factor on a voice's difference from the mean speaker "
                                          "(synthesizer_svc.speaker_emphasis); 1: the embedding as given; "
                                          "unset: the checkpoint's tuned factor (0.55 for the shipped one), else 1")
    synthesizer_spectrum_restore: float | None = Field(
        None, ge=0.0, le=2.0, description="below emphasis factor 1, how much of the voice's long-term spectrum at "
                                          "factor 1 is given back to the mel (synthesizer_svc.spectrum_restore); "
                                          "0: off; unset: the checkpoint's tuned weight (1 for the shipped one), else 0")
    spectrum_restore_cache: int = Field(1024, ge=0, description="voices whose spectrum difference is kept (0: "
                                                                "measured again for every request)")
    synthesizer_speaker_mean: str = Field(str(DEFAULT_SPEAKER_MEAN), description="the mean GE2E embedding (.npy) emphasis moves from")
    max_frames_per_sentence: int = 1000
    max_batch_texts: int = 32
    sentence_chars: int = 200
    micro_batch_items: int = Field(8, description="unseeded concurrent requests synthesized in one batch (1: off)")
    micro_batch_window_ms: float = Field(2.0, description="how long a request waits for company when idle")
    sentences_per_turn: int = Field(8, ge=1, description="sentences of one request per model call; a longer "
                                                         "request takes turns with the others (synthesizer_svc.work)")

    @field_validator("synthesizer_accent_checkpoints")
    @classmethod
    def _accent_checkpoints(cls, value: str) -> str:
        parse_accent_checkpoints(value)  # a bad entry stops start-up naming the variable, not the first request
        return value

    def accent_checkpoints(self) -> dict[str, str]:
        return parse_accent_checkpoints(self.synthesizer_accent_checkpoints)
