"""Every encoder setting, from the environment (see README "Settings")."""
from pydantic import Field

from common.audio_decode import DecodeLimits
from common.config import StageSettings


class EncoderSettings(StageSettings):
    port: int = 8001
    encoder_checkpoint: str = ""
    max_audio_channels: int = Field(8, description="uploads with more channels are refused before decoding")
    max_decoded_samples: int = Field(64_000_000, description="frames x channels an upload may decode to")

    def decode_limits(self) -> DecodeLimits:
        return DecodeLimits(self.max_audio_seconds, self.max_audio_channels, self.max_decoded_samples)
