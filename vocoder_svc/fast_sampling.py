"""Faster WaveRNN sampling with the same numbers as `WaveRNN.sample_classes`.

Everything that does not depend on the previous sample is computed for all steps at once: the mel and
aux parts of `I`, of rnn1's input gates (x enters only as a scalar times a fixed vector), of rnn2's
input gates, fc1 and fc2. The per-sample loop is then a handful of fused matmuls with no module or
distribution objects. Sampling is the exponential-race draw that torch 2's `Categorical.sample` performs
(argmax of normalised probabilities over Exp(1) noise), so a seeded run follows the same random stream.

`int8=True` runs the six per-sample matmuls with int8 weights (fbgemm dynamic quantization, activations
quantized per call): a quarter of the weight bytes to read every step. It changes the numbers; the bench
reports its speed and its quality cost.
"""
import warnings

import torch
import torch.nn.functional as F

from vocoder_svc.model import CHECK_EVERY, WaveRNN


def _gru(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return n + z * (h - n)


def _int8_linear(weight: torch.Tensor, bias: torch.Tensor | None):
    """x -> x @ weight.T + bias with int8 weights (what torch.ao's quantize_dynamic does to an nn.Linear)."""
    linear = torch.nn.Linear(weight.size(1), weight.size(0), bias=bias is not None)
    linear.weight.data.copy_(weight)
    if bias is not None:
        linear.bias.data.copy_(bias)
    with warnings.catch_warnings():  # torch 2.13 flags its quantized-tensor constructors as deprecated
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear},
                                                           dtype=torch.qint8)[0]
    packed = quantized._packed_params._packed_params
    return lambda x: torch.ops.quantized.linear_dynamic(x, packed)


@torch.no_grad()
def sample_classes_fast(model: WaveRNN, mels: torch.Tensor, aux: torch.Tensor, greedy: bool = False,
                        on_logits=None, int8: bool = False, check=None) -> torch.Tensor:
    """(folds, N, feat), (folds, N, aux) -> (folds, N) classes. `check` as in `WaveRNN.sample_classes`."""
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
    # Each per-sample matmul as (precomputed term, x) -> term + x @ W: fused fp32 addmm (the exact numbers
    # that reproduce RTVC) or an int8 linear.
    if int8:
        q = [_int8_linear(w, None) for w in (r1.weight_hh_l0, r2.weight_ih_l0[:, :R], r2.weight_hh_l0,
                                             model.fc1.weight[:, :R], model.fc2.weight[:, :model.cfg.fc_dims],
                                             model.fc3.weight)]
        hh1, ih2, hh2, fc1, fc2, fc3 = (lambda pre, x, f=f: pre + f(x) for f in q)
    else:
        hh1, ih2, hh2, fc1, fc2, fc3 = (lambda pre, x, w=w: torch.addmm(pre, x, w)
                                        for w in (w1hh, w2ih, w2hh, wf1, wf2, wf3))

    if check is not None:  # the precomputed terms above take seconds for hundreds of folds
        check()
    folds, n = mels.shape[:2]
    h1 = mels.new_zeros(folds, R)
    h2 = mels.new_zeros(folds, R)
    x = mels.new_zeros(folds, 1)
    classes = torch.empty(folds, n, dtype=torch.long)
    scale = 2.0 / (model.n_classes - 1.0)
    for i in range(n):
        if check is not None and i % CHECK_EVERY == 0:
            check()
        inp = i_pre[:, i] + x * w_x
        h1 = _gru(torch.addcmul(g1_pre[:, i], x, g1_x), hh1(b1hh, h1), h1)
        inp = inp + h1
        h2 = _gru(ih2(g2_pre[:, i], inp), hh2(b2hh, h2), h2)
        inp = inp + h2
        z = torch.relu(fc1(f1_pre[:, i], inp))
        z = torch.relu(fc2(f2_pre[:, i], z))
        logits = fc3(bf3, z)
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
