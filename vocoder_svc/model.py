"""fatchord's WaveRNN as used by RTVC: mel ResNet + upsampler conditioning two GRUs, RAW 9-bit mu-law output.
State-dict compatible with RTVC's `vocoder.pt`.
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common import audio

CHECK_EVERY = 64  # samples between cancellation checks: a check costs ~1 us, a sample step ~100 us


@dataclass(frozen=True)
class WaveRNNConfig:
    rnn_dims: int = 512
    fc_dims: int = 512
    bits: int = 9
    pad: int = 2
    upsample_factors: tuple = (5, 5, 8)
    feat_dims: int = 80
    compute_dims: int = 128
    res_out_dims: int = 128
    res_blocks: int = 10
    hop_length: int = 200
    sample_rate: int = 16000
    mode: str = "RAW"


class ResBlock(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.conv1 = nn.Conv1d(dims, dims, kernel_size=1, bias=False)
        self.conv2 = nn.Conv1d(dims, dims, kernel_size=1, bias=False)
        self.batch_norm1 = nn.BatchNorm1d(dims)
        self.batch_norm2 = nn.BatchNorm1d(dims)

    def forward(self, x):
        return x + self.batch_norm2(self.conv2(F.relu(self.batch_norm1(self.conv1(x)))))


class MelResNet(nn.Module):
    def __init__(self, res_blocks, in_dims, compute_dims, res_out_dims, pad):
        super().__init__()
        self.conv_in = nn.Conv1d(in_dims, compute_dims, kernel_size=pad * 2 + 1, bias=False)
        self.batch_norm = nn.BatchNorm1d(compute_dims)
        self.layers = nn.ModuleList([ResBlock(compute_dims) for _ in range(res_blocks)])
        self.conv_out = nn.Conv1d(compute_dims, res_out_dims, kernel_size=1)

    def forward(self, x):
        x = F.relu(self.batch_norm(self.conv_in(x)))
        for layer in self.layers:
            x = layer(x)
        return self.conv_out(x)


def stretch_time(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Repeat every time step `scale` times along the last axis (nearest-neighbour upsampling)."""
    return x.repeat_interleave(scale, dim=-1)


class UpsampleNetwork(nn.Module):
    def __init__(self, feat_dims, upsample_scales, compute_dims, res_blocks, res_out_dims, pad):
        super().__init__()
        self.total_scale = int(np.prod(upsample_scales))
        self.indent = pad * self.total_scale
        self.scales = list(upsample_scales)
        self.resnet = MelResNet(res_blocks, feat_dims, compute_dims, res_out_dims, pad)
        # Even indices held parameter-free stretch modules in the original; keep the numbering of the convs.
        self.up_layers = nn.ModuleList()
        for scale in upsample_scales:
            conv = nn.Conv2d(1, 1, kernel_size=(1, scale * 2 + 1), padding=(0, scale), bias=False)
            conv.weight.data.fill_(1.0 / (scale * 2 + 1))
            self.up_layers.append(nn.Identity())
            self.up_layers.append(conv)

    def forward(self, m):
        """(B, feat, T) -> upsampled mels (B, (T-2*pad)*hop, feat), aux (B, same, res_out)."""
        aux = stretch_time(self.resnet(m), self.total_scale)
        m = m.unsqueeze(1)
        for scale, conv in zip(self.scales, self.up_layers[1::2]):
            m = conv(stretch_time(m, scale))
        m = m.squeeze(1)[:, :, self.indent:-self.indent]
        return m.transpose(1, 2), aux.transpose(1, 2)


class WaveRNN(nn.Module):
    def __init__(self, cfg: WaveRNNConfig = WaveRNNConfig()):
        super().__init__()
        if cfg.mode != "RAW":
            raise ValueError("only RAW (mu-law classes) mode is supported")
        self.cfg = cfg
        self.n_classes = 2 ** cfg.bits
        self.aux_dims = cfg.res_out_dims // 4
        # RTVC registers `step` as a frozen Parameter first; keep it so the state-dict order matches.
        self.step = nn.Parameter(torch.zeros(1, dtype=torch.long), requires_grad=False)
        self.upsample = UpsampleNetwork(cfg.feat_dims, cfg.upsample_factors, cfg.compute_dims, cfg.res_blocks,
                                        cfg.res_out_dims, cfg.pad)
        self.I = nn.Linear(cfg.feat_dims + self.aux_dims + 1, cfg.rnn_dims)
        self.rnn1 = nn.GRU(cfg.rnn_dims, cfg.rnn_dims, batch_first=True)
        self.rnn2 = nn.GRU(cfg.rnn_dims + self.aux_dims, cfg.rnn_dims, batch_first=True)
        self.fc1 = nn.Linear(cfg.rnn_dims + self.aux_dims, cfg.fc_dims)
        self.fc2 = nn.Linear(cfg.fc_dims + self.aux_dims, cfg.fc_dims)
        self.fc3 = nn.Linear(cfg.fc_dims, self.n_classes)

    def _split_aux(self, aux):
        d = self.aux_dims
        return [aux[..., d * i:d * (i + 1)] for i in range(4)]

    def forward(self, x, mels):
        """Teacher-forced: x (B, N) previous samples in [-1, 1], mels (B, feat, N/hop + 2*pad) -> logits (B, N, classes)."""
        if self.training:
            self.step += 1
        mels, aux = self.upsample(mels)
        a1, a2, a3, a4 = self._split_aux(aux)
        x = self.I(torch.cat([x.unsqueeze(-1), mels, a1], dim=2))
        x = x + self.rnn1(x)[0]
        x = x + self.rnn2(torch.cat([x, a2], dim=2))[0]
        x = F.relu(self.fc1(torch.cat([x, a3], dim=2)))
        x = F.relu(self.fc2(torch.cat([x, a4], dim=2)))
        return self.fc3(x)

    def conditioning(self, mel: torch.Tensor):
        """(B, feat, T) normalised mel -> upsampled features (B, T*hop, feat) and aux, with RTVC's 2-frame pad."""
        pad = self.cfg.pad
        mel = F.pad(mel, (pad, pad))
        return self.upsample(mel)

    def _cells(self):
        cells = []
        for gru in (self.rnn1, self.rnn2):
            cell = nn.GRUCell(gru.input_size, gru.hidden_size).to(gru.weight_hh_l0)
            cell.weight_hh.data, cell.weight_ih.data = gru.weight_hh_l0.data, gru.weight_ih_l0.data
            cell.bias_hh.data, cell.bias_ih.data = gru.bias_hh_l0.data, gru.bias_ih_l0.data
            cells.append(cell)
        return cells

    @torch.no_grad()
    def sample_classes(self, mels: torch.Tensor, aux: torch.Tensor, greedy: bool = False,
                       on_logits=None, progress=None, check=None) -> torch.Tensor:
        """Autoregressive sampling over folds: (F, N, feat), (F, N, aux) -> classes (F, N) int64.

        One Categorical draw per step on a (folds, classes) tensor and no other RNG use, so torch 2's
        seeded draws reproduce RTVC's run under the same torch."""
        rnn1, rnn2 = self._cells()
        folds, n, _ = mels.shape
        h1 = mels.new_zeros(folds, self.cfg.rnn_dims)
        h2 = mels.new_zeros(folds, self.cfg.rnn_dims)
        x = mels.new_zeros(folds, 1)
        a1, a2, a3, a4 = self._split_aux(aux)
        classes = torch.empty(folds, n, dtype=torch.long)
        for i in range(n):
            if check is not None and i % CHECK_EVERY == 0:
                check()
            inp = self.I(torch.cat([x, mels[:, i], a1[:, i]], dim=1))
            h1 = rnn1(inp, h1)
            inp = inp + h1
            h2 = rnn2(torch.cat([inp, a2[:, i]], dim=1), h2)
            inp = inp + h2
            inp = F.relu(self.fc1(torch.cat([inp, a3[:, i]], dim=1)))
            inp = F.relu(self.fc2(torch.cat([inp, a4[:, i]], dim=1)))
            logits = self.fc3(inp)
            if on_logits is not None:
                on_logits(i, logits)
            if greedy:
                c = logits.argmax(dim=1)
            else:
                c = torch.distributions.Categorical(F.softmax(logits, dim=1)).sample()
            classes[:, i] = c
            x = (2 * c.float() / (self.n_classes - 1.0) - 1.0).unsqueeze(-1)
            if progress is not None and i % 1000 == 0:
                progress(i, n)
        return classes

    @torch.no_grad()
    def generate(self, mel: torch.Tensor, batched: bool = True, target: int = 8000, overlap: int = 800,
                 greedy: bool = False, on_logits=None, progress=None, sampler=None, check=None) -> np.ndarray:
        """(1, feat, T) normalised mel in [-1, 1] -> float64 waveform of (T-1)*hop samples.

        `sampler(model, mels, aux, greedy, on_logits, check)` replaces the reference per-sample loop; `check()`
        runs every CHECK_EVERY samples and raises to abandon the work (common.cancel)."""
        was_training = self.training
        self.eval()
        wave_len = (mel.size(-1) - 1) * self.cfg.hop_length
        mels, aux = self.conditioning(mel)
        if batched:
            mels, aux = fold_with_overlap(mels, target, overlap), fold_with_overlap(aux, target, overlap)
        if sampler is None:
            classes = self.sample_classes(mels, aux, greedy=greedy, on_logits=on_logits, progress=progress,
                                          check=check)
        else:
            classes = sampler(self, mels, aux, greedy=greedy, on_logits=on_logits, check=check)
        self.train(was_training)
        return classes_to_wave(classes.numpy(), self.cfg, wave_len, target, overlap, batched)


def classes_to_wave(classes: np.ndarray, cfg: WaveRNNConfig, wave_len: int, target: int, overlap: int,
                    batched: bool) -> np.ndarray:
    n_classes = 2 ** cfg.bits
    y = (2 * classes.astype(np.float32) / np.float32(n_classes - 1.0) - 1).astype(np.float64)
    y = xfade_and_unfold(y, overlap) if batched else y[0]
    y = audio.decode_mu_law(y, n_classes, from_labels=False)
    y = audio.inv_preemphasis(y)[:wave_len]
    fade = 20 * cfg.hop_length
    # RTVC fades the last 0.25 s out; for shorter outputs fade what there is instead of failing.
    y[-fade:] *= np.linspace(1, 0, fade)[-len(y[-fade:]):] if len(y) < fade else np.linspace(1, 0, fade)
    return y


def fold_with_overlap(x: torch.Tensor, target: int, overlap: int) -> torch.Tensor:
    """(1, N, C) -> (folds, target + 2*overlap, C); the tail is zero-padded to a whole fold."""
    _, total, _ = x.shape
    num_folds = (total - overlap) // (target + overlap)
    remaining = total - (num_folds * (overlap + target) + overlap)
    if remaining != 0:
        num_folds += 1
        x = F.pad(x, (0, 0, 0, target + 2 * overlap - remaining))
    return torch.stack([x[0, i * (target + overlap): i * (target + overlap) + target + 2 * overlap]
                        for i in range(num_folds)])


def xfade_and_unfold(y: np.ndarray, overlap: int) -> np.ndarray:
    """Overlap-add folds with an equal-power crossfade whose first half is silent."""
    num_folds, length = y.shape
    target = length - 2 * overlap
    silence_len = overlap // 2
    t = np.linspace(-1, 1, overlap - silence_len, dtype=np.float64)
    silence = np.zeros(silence_len, dtype=np.float64)
    fade_in = np.concatenate([silence, np.sqrt(0.5 * (1 + t))])
    fade_out = np.concatenate([np.sqrt(0.5 * (1 - t)), silence])
    y = y.copy()
    y[:, :overlap] *= fade_in
    y[:, -overlap:] *= fade_out
    out = np.zeros(num_folds * (target + overlap) + overlap, dtype=np.float64)
    for i in range(num_folds):
        start = i * (target + overlap)
        out[start:start + length] += y[i]
    return out
