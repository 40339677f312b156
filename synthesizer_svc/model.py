"""Tacotron as in RTVC (SV2TTS): char encoder + speaker embedding, location-sensitive attention,
residual LSTM decoder emitting r frames per step, CBHG postnet. State-dict compatible with RTVC's
`synthesizer.pt`.
"""
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TacotronConfig:
    embed_dims: int = 512
    num_chars: int = 66
    encoder_dims: int = 256
    decoder_dims: int = 128
    n_mels: int = 80
    fft_bins: int = 80
    postnet_dims: int = 512
    encoder_K: int = 5
    lstm_dims: int = 1024
    postnet_K: int = 5
    num_highways: int = 4
    dropout: float = 0.5
    stop_threshold: float = -3.4
    speaker_embedding_size: int = 256


MAX_R = 20  # mel_proj is sized for r up to 20; only the first r frames are used


class HighwayNetwork(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.W1 = nn.Linear(size, size)
        self.W2 = nn.Linear(size, size)
        self.W1.bias.data.fill_(0.0)

    def forward(self, x):
        gate = torch.sigmoid(self.W2(x))
        return gate * F.relu(self.W1(x)) + (1.0 - gate) * x


class BatchNormConv(nn.Module):
    def __init__(self, in_ch, out_ch, kernel, relu=True):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False)
        self.bnorm = nn.BatchNorm1d(out_ch)
        self.relu = relu

    def forward(self, x):
        x = self.conv(x)
        return self.bnorm(F.relu(x) if self.relu else x)  # ReLU before BatchNorm, as RTVC trained it


class CBHG(nn.Module):
    def __init__(self, K, in_channels, channels, proj_channels, num_highways):
        super().__init__()
        self.conv1d_bank = nn.ModuleList([BatchNormConv(in_channels, channels, k) for k in range(1, K + 1)])
        self.conv_project1 = BatchNormConv(K * channels, proj_channels[0], 3)
        self.conv_project2 = BatchNormConv(proj_channels[0], proj_channels[1], 3, relu=False)
        if proj_channels[-1] != channels:
            self.pre_highway = nn.Linear(proj_channels[-1], channels, bias=False)
        self.highways = nn.ModuleList([HighwayNetwork(channels) for _ in range(num_highways)])
        self.rnn = nn.GRU(channels, channels // 2, batch_first=True, bidirectional=True)

    def forward(self, x):
        """(B, C_in, T) -> (B, T, channels)."""
        residual, T = x, x.size(-1)
        x = torch.cat([conv(x)[:, :, :T] for conv in self.conv1d_bank], dim=1)
        x = F.max_pool1d(x, kernel_size=2, stride=1, padding=1)[:, :, :T]
        x = self.conv_project2(self.conv_project1(x)) + residual
        x = x.transpose(1, 2)
        if hasattr(self, "pre_highway"):
            x = self.pre_highway(x)
        for highway in self.highways:
            x = highway(x)
        self.rnn.flatten_parameters()
        return self.rnn(x)[0]


class PreNet(nn.Module):
    """Dropout stays on at inference (Tacotron's trick for output variety); `replay` injects recorded masks."""

    def __init__(self, in_dims, fc1_dims, fc2_dims, p):
        super().__init__()
        self.fc1 = nn.Linear(in_dims, fc1_dims)
        self.fc2 = nn.Linear(fc1_dims, fc2_dims)
        self.p = p
        self.replay = None  # iterator of keep-masks (1 = kept), or None to draw with torch's RNG

    def _drop(self, x):
        if self.replay is not None:
            return x * (next(self.replay).to(x) / (1 - self.p))
        return F.dropout(x, self.p, training=True)

    def forward(self, x):
        return self._drop(F.relu(self.fc2(self._drop(F.relu(self.fc1(x))))))


class Encoder(nn.Module):
    def __init__(self, cfg: TacotronConfig):
        super().__init__()
        d = cfg.encoder_dims
        self.embedding = nn.Embedding(cfg.num_chars, cfg.embed_dims)
        self.pre_net = PreNet(cfg.embed_dims, d, d, cfg.dropout)
        self.cbhg = CBHG(cfg.encoder_K, d, d, [d, d], cfg.num_highways)

    def forward(self, chars, speaker_embedding):
        x = self.cbhg(self.pre_net(self.embedding(chars)).transpose(1, 2))
        spk = speaker_embedding.unsqueeze(1).expand(-1, x.size(1), -1)
        return torch.cat([x, spk], dim=2)


class LocationSensitiveAttention(nn.Module):
    def __init__(self, attn_dims, kernel_size=31, filters=32):
        super().__init__()
        self.conv = nn.Conv1d(1, filters, kernel_size, padding=(kernel_size - 1) // 2, bias=True)
        self.L = nn.Linear(filters, attn_dims, bias=False)
        self.W = nn.Linear(attn_dims, attn_dims, bias=True)
        self.v = nn.Linear(attn_dims, 1, bias=False)

    def location_features(self, cumulative):
        """conv1d(1 -> filters) over the cumulative attention, as windows @ kernel: same numbers, and on CPU
        several times cheaper to back-propagate than a convolution this small, called once per decoder step."""
        k = self.conv.kernel_size[0]
        windows = F.pad(cumulative, ((k - 1) // 2, (k - 1) // 2)).unfold(1, k, 1)
        return windows @ self.conv.weight[:, 0, :].t() + self.conv.bias

    def forward(self, encoder_seq_proj, query, cumulative, chars, hide_padding=False):
        location = self.L(self.location_features(cumulative))
        u = self.v(torch.tanh(self.W(query).unsqueeze(1) + encoder_seq_proj + location)).squeeze(-1)
        if hide_padding:
            return F.softmax(u.masked_fill(chars == 0, float("-inf")), dim=1)
        # RTVC zeroes (not -inf) the scores of padding, so padding still takes some weight; kept for compatibility.
        return F.softmax(u * (chars != 0).float(), dim=1)


class Decoder(nn.Module):
    def __init__(self, cfg: TacotronConfig):
        super().__init__()
        self.register_buffer("r", torch.tensor(1, dtype=torch.int))
        self.n_mels = cfg.n_mels
        context_dims = cfg.encoder_dims + cfg.speaker_embedding_size
        prenet_dims = cfg.decoder_dims * 2
        self.prenet = PreNet(cfg.n_mels, prenet_dims, prenet_dims, cfg.dropout)
        self.attn_net = LocationSensitiveAttention(cfg.decoder_dims)
        self.attn_rnn = nn.GRUCell(context_dims + prenet_dims, cfg.decoder_dims)
        self.rnn_input = nn.Linear(context_dims + cfg.decoder_dims, cfg.lstm_dims)
        self.res_rnn1 = nn.LSTMCell(cfg.lstm_dims, cfg.lstm_dims)
        self.res_rnn2 = nn.LSTMCell(cfg.lstm_dims, cfg.lstm_dims)
        self.mel_proj = nn.Linear(cfg.lstm_dims, cfg.n_mels * MAX_R, bias=False)
        self.stop_proj = nn.Linear(context_dims + cfg.lstm_dims, 1)

    @staticmethod
    def zoneout(prev, current, p=0.1):
        mask = torch.zeros_like(prev).bernoulli_(p)
        return prev * mask + current * (1 - mask)

    def forward(self, encoder_seq, encoder_seq_proj, prenet_in, state, chars, hide_padding=False):
        """One decoder step. state = (attn_h, rnn1_h, rnn2_h, rnn1_c, rnn2_c, context, cumulative)."""
        attn_h, h1, h2, c1, c2, context, cumulative = state
        attn_h = self.attn_rnn(torch.cat([context, self.prenet(prenet_in)], dim=-1), attn_h)
        scores = self.attn_net(encoder_seq_proj, attn_h, cumulative, chars, hide_padding)
        context = torch.bmm(scores.unsqueeze(1), encoder_seq).squeeze(1)
        x = self.rnn_input(torch.cat([context, attn_h], dim=1))
        h1_next, c1 = self.res_rnn1(x, (h1, c1))
        h1 = self.zoneout(h1, h1_next) if self.training else h1_next
        x = x + h1
        h2_next, c2 = self.res_rnn2(x, (h2, c2))
        h2 = self.zoneout(h2, h2_next) if self.training else h2_next
        x = x + h2
        mels = self.mel_proj(x).view(x.size(0), self.n_mels, MAX_R)[:, :, : int(self.r)]
        stop_logit = self.stop_proj(torch.cat([x, context], dim=1)).squeeze(1)
        return mels, scores, stop_logit, (attn_h, h1, h2, c1, c2, context, cumulative + scores)


class Tacotron(nn.Module):
    def __init__(self, cfg: TacotronConfig = TacotronConfig()):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.encoder_proj = nn.Linear(cfg.encoder_dims + cfg.speaker_embedding_size, cfg.decoder_dims, bias=False)
        self.decoder = Decoder(cfg)
        self.postnet = CBHG(cfg.postnet_K, cfg.n_mels, cfg.postnet_dims, [cfg.postnet_dims, cfg.fft_bins],
                            cfg.num_highways)
        self.post_proj = nn.Linear(cfg.postnet_dims, cfg.fft_bins, bias=False)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.register_buffer("step", torch.zeros(1, dtype=torch.long))
        self.register_buffer("stop_threshold", torch.tensor(cfg.stop_threshold, dtype=torch.float32))

    # RTVC's checkpoints put `step` and `stop_threshold` first; state-dict order follows registration, so
    # re-order on save to keep manifests identical.
    def state_dict(self, *args, **kwargs):
        sd = super().state_dict(*args, **kwargs)
        prefix = kwargs.get("prefix", "")
        first = [prefix + "step", prefix + "stop_threshold"]
        ordered = type(sd)((k, sd[k]) for k in first if k in sd)
        ordered.update((k, v) for k, v in sd.items() if k not in first)
        return ordered

    @property
    def r(self) -> int:
        return int(self.decoder.r)

    @r.setter
    def r(self, value: int):
        self.decoder.r.fill_(value)

    def set_dropout_replay(self, masks):
        """Replay recorded pre-net keep-masks (encoder fc1, fc2, then per decoder step fc1, fc2)."""
        it = iter(masks) if masks is not None else None
        self.encoder.pre_net.replay = it
        self.decoder.prenet.replay = it

    def _initial_state(self, encoder_seq):
        B, T, C = encoder_seq.shape
        z = lambda n: encoder_seq.new_zeros(B, n)
        c = self.cfg
        return (z(c.decoder_dims), z(c.lstm_dims), z(c.lstm_dims), z(c.lstm_dims), z(c.lstm_dims), z(C), z(T))

    def postnet_mel(self, mel):
        """Decoder frames (B, 80, T) -> postnet frames (B, 80, T)."""
        return self.post_proj(self.postnet(mel)).transpose(1, 2)

    def forward(self, chars, mels, speaker_embedding, own_input_rate: float = 0.0, hide_padding: bool = False):
        """Teacher-forced: -> (mel (B,80,T), postnet (B,80,T), attention (B,steps,T_in), stop logits (B,steps)).

        With `own_input_rate` > 0 each item's decoder step is fed, with that probability, the model's own
        previous frame instead of the true one (scheduled sampling): a small model trained only on true
        frames leans on them and drifts into mush when it must read its own at inference.
        `hide_padding` gives padding no attention weight, as per-item synthesis (`decode` with lengths) does;
        the default keeps RTVC's training behaviour."""
        if self.training:
            self.step += 1
        encoder_seq = self.encoder(chars, speaker_embedding)
        encoder_seq_proj = self.encoder_proj(encoder_seq)
        state = self._initial_state(encoder_seq)
        prev = mels.new_zeros(mels.size(0), self.cfg.n_mels)
        outs, attn, stops = [], [], []
        for t in range(0, mels.size(2), self.r):
            if t > 0:
                prev = mels[:, :, t - 1]
                if own_input_rate > 0:
                    own = torch.rand(prev.size(0), 1, device=prev.device) < own_input_rate
                    prev = torch.where(own, outs[-1][:, :, -1].detach(), prev)
            frames, scores, stop, state = self.decoder(encoder_seq, encoder_seq_proj, prev, state, chars,
                                                       hide_padding)
            outs.append(frames), attn.append(scores), stops.append(stop)
        mel_out = torch.cat(outs, dim=2)
        return mel_out, self.postnet_mel(mel_out), torch.stack(attn, 1), torch.stack(stops, 1)

    @contextmanager
    def evaluating(self):
        """Eval mode (no zoneout, BatchNorm on running stats) for the block, then the caller's mode again."""
        was_training = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(was_training)

    def _encode_each(self, chars, speaker_embedding, lengths):
        """Each item encoded at its own length: padding never reaches the CBHG's convolutions or GRUs."""
        seqs = [self.encoder(chars[i:i + 1, :n], speaker_embedding[i:i + 1])[0] for i, n in enumerate(lengths)]
        return nn.utils.rnn.pad_sequence(seqs, batch_first=True)

    @torch.no_grad()
    def decode(self, chars, speaker_embedding, steps: int = 2000, lengths=None, check=None):
        """Free-running decoder -> (frames (B, 80, T), attention (B, steps, T_in), stop logits (B, steps)).
        Stops when every item's stop probability > 0.5 past frame 10, or at `steps` frames.

        RTVC encodes the padded batch and lets padding take attention weight, so an item's frames depend on
        its batch-mates (the shorter ones slur). Given `lengths`, each item is encoded alone and attends
        only to its own characters: its frames and attention are the ones it would get in a batch of one
        (`postnet_mel` on its own frames, cut at its stop, keeps that for the postnet).
        `check()`, when given, runs before every step and raises to abandon the work (common.cancel)."""
        with self.evaluating():
            if lengths is None:
                encoder_seq = self.encoder(chars, speaker_embedding)
            else:
                encoder_seq = self._encode_each(chars, speaker_embedding, lengths)
            encoder_seq_proj = self.encoder_proj(encoder_seq)
            state = self._initial_state(encoder_seq)
            prev = encoder_seq.new_zeros(chars.size(0), self.cfg.n_mels)
            outs, attn, stops = [], [], []
            for t in range(0, steps, self.r):
                if check is not None:
                    check()
                frames, scores, stop, state = self.decoder(encoder_seq, encoder_seq_proj, prev, state, chars,
                                                           hide_padding=lengths is not None)
                prev = frames[:, :, -1]
                outs.append(frames), attn.append(scores), stops.append(stop)
                if bool((torch.sigmoid(stop) > 0.5).all()) and t > 10:
                    break
        return torch.cat(outs, dim=2), torch.stack(attn, 1), torch.stack(stops, 1)

    @torch.no_grad()
    def generate(self, chars, speaker_embedding, steps: int = 2000):
        """RTVC's generate: `decode` on the padded batch, then the postnet over the whole batch.
        -> (mel (B, 80, T), postnet (B, 80, T), attention, stop logits)."""
        mel_out, attention, stops = self.decode(chars, speaker_embedding, steps)
        with self.evaluating():
            return mel_out, self.postnet_mel(mel_out), attention, stops
