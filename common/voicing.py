"""How the synthesizer is asked to render a voice, beside its embedding: which accent's checkpoint speaks
(common.accents) and the speaker emphasis (synthesizer_svc.speaker_emphasis). One value, so the orchestrator
passes both from a request to the synthesizer through every route, stream and queued job alike."""
from dataclasses import dataclass

from fastapi import Form
from pydantic import Field

from common.accents import AUTO

SPEAKER_EMPHASIS_DESCRIPTION = (
    "how far the voice is pushed from the mean speaker: 1 the embedding as given (most like the speaker), "
    "below 1 clearer words and less likeness, 0 the mean voice (default: the synthesizer's, tuned per checkpoint)")


# The factor's range, wherever it is given: a request (JSON or form) and the synthesizer's own setting.
SPEAKER_EMPHASIS_BOUNDS = {"ge": 0.0, "le": 3.0}


def speaker_emphasis_field(prefix: str = ""):
    """The JSON request field."""
    return Field(None, **SPEAKER_EMPHASIS_BOUNDS, description=prefix + SPEAKER_EMPHASIS_DESCRIPTION)


def speaker_emphasis_form():
    """The same as a multipart form field (/v1/clone, its preview, /v1/jobs, /v1/studio/speak)."""
    return Form(None, **SPEAKER_EMPHASIS_BOUNDS, description=SPEAKER_EMPHASIS_DESCRIPTION)


@dataclass(frozen=True)
class Voicing:
    accent: str = AUTO
    speaker_emphasis: float | None = None   # None: the synthesizer's default for that accent's checkpoint

    def synthesizer_fields(self) -> dict:
        """What goes into /v1/synthesize: only what differs from the synthesizer's defaults, so a request that
        sets neither goes as before either existed."""
        return {**({"accent": self.accent} if self.accent != AUTO else {}),
                **({"speaker_emphasis": self.speaker_emphasis} if self.speaker_emphasis is not None else {})}

    def job_params(self) -> dict:
        return {"accent": self.accent, "speaker_emphasis": self.speaker_emphasis}

    @classmethod
    def from_job_params(cls, params: dict) -> "Voicing":
        """Jobs queued before accents (or emphasis) existed have neither: what they were submitted for."""
        return cls(params.get("accent", AUTO), params.get("speaker_emphasis"))


AS_SERVED = Voicing()
