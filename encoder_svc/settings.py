"""Every encoder setting, from the environment (see README "Settings")."""
from common.config import ServiceSettings


class EncoderSettings(ServiceSettings):
    port: int = 8001
    encoder_checkpoint: str = ""
