"""Typed dependencies of the vocoder's routes."""
from typing import Annotated

from fastapi import Depends, Request

from vocoder_svc.runtime import VocoderRuntime


def get_runtime(request: Request) -> VocoderRuntime:
    return request.app.state.runtime


Runtime = Annotated[VocoderRuntime, Depends(get_runtime)]
