"""Real-time factor (compute seconds / audio seconds; lower is faster) per stage and end to end,
in-process, for the default models and RTVC-size random-init models."""
import time

import numpy as np
import soundfile as sf
import torch

from common.paths import DEFAULT_SYNTHESIZER
from encoder_svc.inference import embed_reference, load_encoder
from synthesizer_svc.inference import load_synthesizer, synthesize
from synthesizer_svc.model import Tacotron
from vocoder_svc.inference import vocode_griffinlim, vocode_wavernn
from vocoder_svc.model import WaveRNN

TEXTS = {"short": "Hello there.",
         "medium": "The birch canoe slid on the smooth planks, and glued the sheet to the dark blue background.",
         "long": "It is easy to tell the depth of a well. These days a chicken leg is a rare dish. Rice is often "
                 "served in round bowls. The juice of lemons makes fine punch. The box was thrown beside the "
                 "parked truck."}


def run(reference_wav: str, with_wavernn: bool = True) -> list[dict]:
    wav, sr = sf.read(reference_wav, dtype="float32")
    encoder = load_encoder()
    ten_s = np.tile(wav, int(np.ceil(10 * sr / len(wav))))[: 10 * sr]
    start = time.perf_counter()
    emb = embed_reference(encoder, ten_s).embedding
    enc_s = time.perf_counter() - start
    torch.manual_seed(0)
    models = {"default": (load_synthesizer(str(DEFAULT_SYNTHESIZER)), None),
              "RTVC-size random": (Tacotron(), WaveRNN())}
    models["RTVC-size random"][0].r = 2
    models["RTVC-size random"][0].eval()
    rows = []
    for name, (synth, wavernn) in models.items():
        for length, text in TEXTS.items():
            # A random model never stops: cap it at a natural length (~6 frames per character).
            cap = 1000 if wavernn is None else 6 * len(text)
            start = time.perf_counter()
            mel = np.concatenate(synthesize(synth, [text], emb[None], max_frames=cap, seed=0).mels, axis=1)
            syn_s = time.perf_counter() - start
            audio_s = mel.shape[1] * 200 / 16000
            start = time.perf_counter()
            vocode_griffinlim(mel, n_iter=32)
            gl_s = time.perf_counter() - start
            row = {"models": name, "text": length, "audio s": f"{audio_s:.2f}",
                   "encoder RTF (10 s ref)": f"{enc_s / 10:.3f}", "synth RTF": f"{syn_s / audio_s:.3f}",
                   "GL RTF": f"{gl_s / audio_s:.3f}", "e2e GL RTF": f"{(enc_s + syn_s + gl_s) / audio_s:.3f}"}
            if wavernn is not None and with_wavernn:
                start = time.perf_counter()
                vocode_wavernn(wavernn.eval(), mel)
                wr_s = time.perf_counter() - start
                row.update({"WaveRNN RTF": f"{wr_s / audio_s:.2f}", "e2e WaveRNN RTF": f"{(enc_s + syn_s + wr_s) / audio_s:.2f}"})
            rows.append(row)
    return rows
