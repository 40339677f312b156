"""Typed dependencies of the synthesizer's routes."""
from typing import Annotated

from fastapi import Depends, Request

from synthesizer_svc.runtime import SynthesizerRuntime


def get_runtime(request: Request) -> SynthesizerRuntime:
    return request.app.state.runtime


Runtime = Annotated[SynthesizerRuntime, Depends(get_runtime)]
