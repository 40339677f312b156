"""The accent a request may ask for (issue 24), shared by the synthesizer and the orchestrator.

`auto` speaks in the voice's own accent, with the default synthesizer checkpoint (what every request got
before accents existed). A named accent uses the Tacotron checkpoint the synthesizer was given for it
(SYNTHESIZER_ACCENT_CHECKPOINTS); one it has none for is refused with 422 `accent_unavailable`.
"""
from typing import Literal, get_args

Accent = Literal["auto", "american", "british"]
AUTO = "auto"
NAMED_ACCENTS = tuple(a for a in get_args(Accent) if a != AUTO)
ACCENT_DESCRIPTION = ("auto: the voice's own accent (the default checkpoint); american or british: that accent's "
                      "checkpoint, 422 accent_unavailable where the synthesizer has none")


def served_accents(named) -> list[str]:
    """What a synthesizer with checkpoints for the `named` accents serves, in the one order its schema's enum and
    its accent_unavailable message both list them."""
    return [AUTO, *sorted(named)]
