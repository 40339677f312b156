"""AudioReply (orchestrator_svc.speaking) -> the HTTP response."""
from fastapi.responses import Response, StreamingResponse

from orchestrator_svc.speaking import AudioReply

AUDIO_TYPES = {"audio/wav": {}, "audio/mpeg": {}, "audio/ogg": {}, "audio/flac": {}}


def audio_response(reply: AudioReply) -> Response:
    if reply.stream is not None:
        return StreamingResponse(reply.stream, media_type=reply.media_type, headers=reply.headers)
    return Response(reply.audio.data, media_type=reply.audio.media_type, headers=reply.headers)
