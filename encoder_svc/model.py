"""GE2E speaker encoder: 3-layer LSTM over 40-band mels -> ReLU(Linear) -> L2-normalised embedding.

State-dict compatible with RTVC's `encoder.pt` and resemblyzer's `pretrained.pt`.
"""
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EncoderConfig:
    mel_channels: int = 40
    hidden_size: int = 256
    num_layers: int = 3
    embedding_size: int = 256


class SpeakerEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.cfg = cfg
        # Only the GE2E loss uses these two, but RTVC's strict load expects them first in the state dict.
        self.similarity_weight = nn.Parameter(torch.tensor([10.0]))
        self.similarity_bias = nn.Parameter(torch.tensor([-5.0]))
        self.lstm = nn.LSTM(cfg.mel_channels, cfg.hidden_size, cfg.num_layers, batch_first=True)
        self.linear = nn.Linear(cfg.hidden_size, cfg.embedding_size)

    def last_hidden(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        return hidden[-1]

    def raw_embeddings(self, mels: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(self.last_hidden(mels)))

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """(B, frames, 40) -> (B, 256); the +1e-5 keeps silence from dividing by zero."""
        raw = self.raw_embeddings(mels)
        return raw / (torch.norm(raw, dim=1, keepdim=True) + 1e-5)
