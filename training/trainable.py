"""Which weights of the Tacotron a fine-tune may change (`train_synthesizer --trainable`).

Fine-tuning every weight on a few hundred CPU steps of real speech has twice made clones less
intelligible (Whisper WER 0.29 -> 0.69, then 0.36 -> 0.55): the text-to-speech path, tuned for 57k steps,
is disturbed before the speaker path has learned anything. The speaker embedding enters the model only as
the last `speaker_embedding_size` inputs of four linear maps (it is concatenated to every encoder output,
so the attention context carries it unchanged: its weights sum to 1). Training only those columns
adapts how an embedding becomes a voice, and leaves how text becomes speech as it was: the same checkpoint
format, and at most a linear map of the embedding per layer.
"""
import torch
from torch import nn

from synthesizer_svc.model import Tacotron

CHOICES = ("all", "speaker", "speaker+postnet", "speaker-decoder")


def speaker_columns(model: Tacotron, trainable: str = "speaker") -> dict[str, slice]:
    """Weight name -> the columns that multiply the speaker embedding (`speaker-decoder`: only those
    outside the attention and the stop token, i.e. what turns the context into the next frames)."""
    enc, spk, lstm = model.cfg.encoder_dims, model.cfg.speaker_embedding_size, model.cfg.lstm_dims
    context = slice(enc, enc + spk)  # context = [encoder output (enc), speaker (spk)]
    columns = {
        "encoder_proj.weight": context,                       # input: [encoder output, speaker]
        "decoder.attn_rnn.weight_ih": context,                # input: [context, prenet]
        "decoder.rnn_input.weight": context,                  # input: [context, attention state]
        "decoder.stop_proj.weight": slice(lstm + enc, lstm + enc + spk),  # input: [decoder state, context]
    }
    # `speaker-decoder` leaves the attention's keys (encoder_proj) and query (attn_rnn) and the stop token alone:
    # the four-map fine-tune doubled WER within 337 steps (0.36 -> 0.76). It was no cure: WER 1.30 after 1449
    # steps on the same data (models/README.md, fine-tune E), so the damage is not the alignment alone.
    if trainable == "speaker-decoder":
        return {"decoder.rnn_input.weight": columns["decoder.rnn_input.weight"]}
    return columns


def _frozen_batchnorm_eval(module: nn.Module):
    """A frozen BatchNorm must not move its running statistics either (train mode updates them)."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.eval()


def restrict(model: Tacotron, trainable: str) -> int:
    """Freeze all but the chosen weights; returns how many weights stay trainable. Columns outside the
    speaker's get zero gradient, so Adam (no weight decay) never moves them. Call `keep_frozen_stats`
    after every `model.train()`."""
    if trainable == "all":
        return sum(p.numel() for p in model.parameters())
    if trainable not in CHOICES:
        raise ValueError(f"trainable must be one of {CHOICES}")
    columns = speaker_columns(model, trainable)
    params = dict(model.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in columns or (trainable == "speaker+postnet" and name.startswith("post")))
    for name, cols in columns.items():
        mask = torch.zeros_like(params[name])
        mask[:, cols] = 1.0
        params[name].register_hook(lambda g, m=mask: g * m)
    n = sum(params[k][:, c].numel() for k, c in columns.items())
    return n + sum(p.numel() for k, p in params.items() if p.requires_grad and k not in columns)


def keep_frozen_stats(model: Tacotron, trainable: str) -> None:
    """BatchNorm layers of frozen parts back to eval mode (the encoder always; the postnet unless trained)."""
    if trainable == "all":
        return
    _frozen_batchnorm_eval(model.encoder)
    if trainable != "speaker+postnet":
        _frozen_batchnorm_eval(model.postnet)
