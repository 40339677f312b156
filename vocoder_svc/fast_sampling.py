"""Faster WaveRNN sampling with the same numbers as `WaveRNN.sample_classes`.

The trick: in RTVC's loop each step feeds [previous sample x, mel frame, aux slice] through the input layer
`I`, two GRUs and three dense layers. Only x and the two hidden states depend on the previous step; every
term that comes from the mel or the aux features (and every bias) is computed for all steps at once before
the loop, as a few large matmuls. The loop itself then does, per step, only the products with x and with
the hidden states: a handful of fused matmuls, with no module calls and no distribution objects.

Sampling is the exponential-race draw that torch 2's `Categorical.sample` performs (argmax of normalised
probabilities over Exp(1) noise), so a seeded run follows the same random stream as RTVC's.

`int8=True` runs the six per-step matmuls with int8 weights (fbgemm dynamic quantization, activations
quantized per call): a quarter of the weight bytes to read every step. It changes the numbers; the bench
reports its speed and its quality cost.
"""
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vocoder_svc.model import CHECK_EVERY, WaveRNN


def gru_update(input_gates: torch.Tensor, hidden_gates: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """One GRU step from its two gate pre-activations (input side, hidden side), as torch's GRU computes it."""
    input_reset, input_update, input_new = input_gates.chunk(3, 1)
    hidden_reset, hidden_update, hidden_new = hidden_gates.chunk(3, 1)
    reset = torch.sigmoid(input_reset + hidden_reset)
    update = torch.sigmoid(input_update + hidden_update)
    candidate = torch.tanh(input_new + reset * hidden_new)
    return candidate + update * (hidden - candidate)


class StepMatmul:
    """`term + x @ weight.T` for one per-step product, in fp32: torch.addmm fuses the add into the matmul
    (these are the exact numbers that reproduce RTVC's loop)."""

    def __init__(self, weight: torch.Tensor):
        self.weight_t = weight.t().contiguous()

    def __call__(self, term: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(term, x, self.weight_t)


class Int8StepMatmul:
    """`term + x @ weight.T` with int8 weights: what torch.ao's quantize_dynamic does to an nn.Linear."""

    def __init__(self, weight: torch.Tensor):
        linear = torch.nn.Linear(weight.size(1), weight.size(0), bias=False)
        linear.weight.data.copy_(weight)
        with warnings.catch_warnings():  # torch 2.13 flags its quantized-tensor constructors as deprecated
            warnings.simplefilter("ignore", UserWarning)
            quantized = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear},
                                                               dtype=torch.qint8)[0]
        self.packed = quantized._packed_params._packed_params

    def __call__(self, term: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # reduce_range: 7-bit activations, as DynamicQuantizedLinear passes on fbgemm. Without it, AVX2 CPUs
        # without VNNI saturate fbgemm's int16 pair sums: per-step distance to fp32 0.080 on such an AMD EPYC
        # (0.004 on CPUs with VNNI), the test below failed in CI.
        return term + torch.ops.quantized.linear_dynamic(x, self.packed, reduce_range=True)


@dataclass
class StepWeights:
    """The six products the loop must do every step, one per weight block that meets a step-dependent input."""
    rnn1_hidden: StepMatmul | Int8StepMatmul     # h1 -> rnn1's hidden-side gates
    rnn2_input: StepMatmul | Int8StepMatmul      # rnn2's input (the running residual sum) -> its input gates
    rnn2_hidden: StepMatmul | Int8StepMatmul     # h2 -> rnn2's hidden-side gates
    fc1_residual: StepMatmul | Int8StepMatmul    # the residual sum's part of fc1
    fc2_hidden: StepMatmul | Int8StepMatmul      # fc1's output's part of fc2
    fc3: StepMatmul | Int8StepMatmul             # fc2's output -> logits

    @classmethod
    def of(cls, model: WaveRNN, int8: bool) -> "StepWeights":
        rnn_dims, fc_dims = model.cfg.rnn_dims, model.cfg.fc_dims
        make = Int8StepMatmul if int8 else StepMatmul
        return cls(make(model.rnn1.weight_hh_l0), make(model.rnn2.weight_ih_l0[:, :rnn_dims]),
                   make(model.rnn2.weight_hh_l0), make(model.fc1.weight[:, :rnn_dims]),
                   make(model.fc2.weight[:, :fc_dims]), make(model.fc3.weight))


@dataclass
class PrecomputedTerms:
    """Everything that does not depend on the previous sample, for all steps: (folds, steps, width) each."""
    input_layer: torch.Tensor      # I(mel, aux1) without the x column
    rnn1_input_gates: torch.Tensor  # rnn1's input gates of that, plus its input bias
    rnn1_x_gates: torch.Tensor     # (3R,): rnn1's input gates per unit of x (x enters I as one scalar column)
    x_column: torch.Tensor         # (R,): I's weight column for x
    rnn2_aux_gates: torch.Tensor   # aux2's part of rnn2's input gates, plus its input bias
    fc1_aux: torch.Tensor          # aux3's part of fc1, plus its bias
    fc2_aux: torch.Tensor          # aux4's part of fc2, plus its bias

    @classmethod
    def of(cls, model: WaveRNN, mels: torch.Tensor, aux: torch.Tensor) -> "PrecomputedTerms":
        rnn_dims, aux_dims, fc_dims = model.cfg.rnn_dims, model.aux_dims, model.cfg.fc_dims
        aux1, aux2, aux3, aux4 = (aux[..., aux_dims * i:aux_dims * (i + 1)] for i in range(4))
        x_column = model.I.weight[:, 0]
        # I's input is [x, mel, aux1]: the mel and aux1 columns for every step in one matmul
        input_layer = torch.cat([mels, aux1], -1) @ model.I.weight[:, 1:].t() + model.I.bias
        rnn1, rnn2 = model.rnn1, model.rnn2
        # rnn1 reads I's output, so its input gates split the same way: a per-step part and x times a vector
        rnn1_input_gates = input_layer @ rnn1.weight_ih_l0.t() + rnn1.bias_ih_l0
        rnn1_x_gates = rnn1.weight_ih_l0 @ x_column
        # rnn2, fc1 and fc2 each see [running features, aux_k]: the aux_k columns are precomputed here
        rnn2_aux_gates = aux2 @ rnn2.weight_ih_l0[:, rnn_dims:].t() + rnn2.bias_ih_l0
        fc1_aux = aux3 @ model.fc1.weight[:, rnn_dims:].t() + model.fc1.bias
        fc2_aux = aux4 @ model.fc2.weight[:, fc_dims:].t() + model.fc2.bias
        return cls(input_layer, rnn1_input_gates, rnn1_x_gates, x_column, rnn2_aux_gates, fc1_aux, fc2_aux)


def draw_classes(logits: torch.Tensor, greedy: bool) -> torch.Tensor:
    """The class of each fold: argmax, or the draw `Categorical(logits=...).sample()` makes with the same RNG
    (softmax, renormalise as Categorical does, then argmax of probs / Exp(1) noise)."""
    if greedy:
        return logits.argmax(dim=1)
    probs = F.softmax(logits, dim=1)
    probs = probs / probs.sum(-1, keepdim=True)
    return (probs / torch.empty_like(probs).exponential_()).argmax(dim=1)


@torch.no_grad()
def sample_classes_fast(model: WaveRNN, mels: torch.Tensor, aux: torch.Tensor, greedy: bool = False,
                        on_logits=None, int8: bool = False, teacher: torch.Tensor | None = None,
                        check=None) -> torch.Tensor:
    """(folds, N, feat), (folds, N, aux) -> (folds, N) classes. `check` as in `WaveRNN.sample_classes`.

    `teacher` ((folds, N) classes) forces each step's previous sample to the given class instead of the
    drawn one: with `on_logits`, that compares two weight sets step by step on one shared history."""
    rnn_dims = model.cfg.rnn_dims
    model._cells()  # RTVC builds two GRUCells here, whose init draws from the RNG; keep the stream aligned
    pre = PrecomputedTerms.of(model, mels, aux)
    step = StepWeights.of(model, int8)
    rnn1_hidden_bias, rnn2_hidden_bias, fc3_bias = model.rnn1.bias_hh_l0, model.rnn2.bias_hh_l0, model.fc3.bias
    if check is not None:  # the precomputed terms above take seconds for hundreds of folds
        check()

    folds, n_steps = mels.shape[:2]
    h1 = mels.new_zeros(folds, rnn_dims)
    h2 = mels.new_zeros(folds, rnn_dims)
    x = mels.new_zeros(folds, 1)               # previous sample in [-1, 1]; RTVC starts from silence
    classes = torch.empty(folds, n_steps, dtype=torch.long)
    class_to_sample = 2.0 / (model.n_classes - 1.0)
    for i in range(n_steps):
        if check is not None and i % CHECK_EVERY == 0:
            check()
        # I's output: the precomputed part plus x times its column
        residual = pre.input_layer[:, i] + x * pre.x_column
        # rnn1: input gates = precomputed + x * (its gates per unit of x); hidden gates from h1
        h1 = gru_update(torch.addcmul(pre.rnn1_input_gates[:, i], x, pre.rnn1_x_gates),
                        step.rnn1_hidden(rnn1_hidden_bias, h1), h1)
        residual = residual + h1
        # rnn2 reads [residual, aux2]; the aux2 part is precomputed
        h2 = gru_update(step.rnn2_input(pre.rnn2_aux_gates[:, i], residual), step.rnn2_hidden(rnn2_hidden_bias, h2),
                        h2)
        residual = residual + h2
        # fc1 reads [residual, aux3], fc2 reads [fc1's output, aux4]; fc3 gives the class logits
        hidden = torch.relu(step.fc1_residual(pre.fc1_aux[:, i], residual))
        hidden = torch.relu(step.fc2_hidden(pre.fc2_aux[:, i], hidden))
        logits = step.fc3(fc3_bias, hidden)
        if on_logits is not None:
            on_logits(i, logits)
        drawn = draw_classes(logits, greedy)
        classes[:, i] = drawn
        # the drawn (or forced) class becomes next step's x, as RTVC maps it (class -> [-1, 1])
        fed_back = drawn if teacher is None else teacher[:, i]
        x = (fed_back.float() * class_to_sample - 1.0).unsqueeze(-1)
    return classes
