"""Faster WaveRNN sampling with the same numbers as `WaveRNN.sample_classes`.

Everything that does not depend on the previous sample is computed for all steps at once: the mel and
aux parts of `I`, of rnn1's input gates (x enters only as a scalar times a fixed vector), of rnn2's
input gates, fc1 and fc2. The per-sample loop is then a handful of fused matmuls with no module or
distribution objects. Sampling is the exponential-race draw that torch 2's `Categorical.sample` performs
(argmax of normalised probabilities over Exp(1) noise), so a seeded run follows the same random stream.
"""
import torch
import torch.nn.functional as F

from vocoder_svc.model import WaveRNN


def _gru(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)


@torch.no_grad()
def sample_classes_fast(model: WaveRNN, mels: torch.Tensor, aux: torch.Tensor, greedy: bool = False,
                        on_logits=None) -> torch.Tensor:
    """(folds, N, feat), (folds, N, aux) -> (folds, N) classes."""
    R, d = model.cfg.rnn_dims, model.aux_dims
    model._cells()  # RTVC builds two GRUCells here, whose init draws from the RNG; keep the stream aligned
    a1, a2, a3, a4 = (aux[..., d * i:d * (i + 1)] for i in range(4))
    w_i = model.I.weight
    w_x = w_i[:, 0]
    i_pre = torch.cat([mels, a1], -1) @ w_i[:, 1:].t() + model.I.bias               # (F, N, R)
    r1, r2 = model.rnn1, model.rnn2
    g1_pre = i_pre @ r1.weight_ih_l0.t() + r1.bias_ih_l0                            # (F, N, 3R)
    g1_x = r1.weight_ih_l0 @ w_x                                                     # (3R,)
    g2_pre = a2 @ r2.weight_ih_l0[:, R:].t() + r2.bias_ih_l0
    f1_pre = a3 @ model.fc1.weight[:, R:].t() + model.fc1.bias
    f2_pre = a4 @ model.fc2.weight[:, model.cfg.fc_dims:].t() + model.fc2.bias
    w1hh, b1hh = r1.weight_hh_l0.t().contiguous(), r1.bias_hh_l0
    w2ih, w2hh, b2hh = r2.weight_ih_l0[:, :R].t().contiguous(), r2.weight_hh_l0.t().contiguous(), r2.bias_hh_l0
    wf1, wf2 = model.fc1.weight[:, :R].t().contiguous(), model.fc2.weight[:, :model.cfg.fc_dims].t().contiguous()
    wf3, bf3 = model.fc3.weight.t().contiguous(), model.fc3.bias

    folds, n = mels.shape[:2]
    h1 = mels.new_zeros(folds, R)
    h2 = mels.new_zeros(folds, R)
    x = mels.new_zeros(folds, 1)
    classes = torch.empty(folds, n, dtype=torch.long)
    scale = 2.0 / (model.n_classes - 1.0)
    for i in range(n):
        inp = i_pre[:, i] + x * w_x
        h1 = _gru(torch.addcmul(g1_pre[:, i], x, g1_x), torch.addmm(b1hh, h1, w1hh), h1)
        inp = inp + h1
        h2 = _gru(torch.addmm(g2_pre[:, i], inp, w2ih), torch.addmm(b2hh, h2, w2hh), h2)
        inp = inp + h2
        z = torch.relu(torch.addmm(f1_pre[:, i], inp, wf1))
        z = torch.relu(torch.addmm(f2_pre[:, i], z, wf2))
        logits = torch.addmm(bf3, z, wf3)
        if on_logits is not None:
            on_logits(i, logits)
        if greedy:
            c = logits.argmax(dim=1)
        else:
            probs = F.softmax(logits, dim=1)
            probs = probs / probs.sum(-1, keepdim=True)
            c = (probs / torch.empty_like(probs).exponential_()).argmax(dim=1)
        classes[:, i] = c
        x = (c.float() * scale - 1.0).unsqueeze(-1)
    return classes
