"""Typed dependencies of the encoder's routes."""
from typing import Annotated

from fastapi import Depends, Request

from encoder_svc.runtime import EncoderRuntime


def get_runtime(request: Request) -> EncoderRuntime:
    return request.app.state.runtime


Runtime = Annotated[EncoderRuntime, Depends(get_runtime)]
