"""The default models' speed targets (issue 25), side by side in one run on this machine:

1. in-process, the medium text: vocoder RTF and end-to-end RTF (10 s reference embedded, text synthesized,
   mel vocoded) for the default HiFi-GAN generator, the V1 universal one and Griffin-Lim, with piper's CPU
   voice (a whole TTS) on the same text as the reference point;
2. through a real four-process stack: seconds to the first audio byte of a streamed 3-sentence
   `/v1/clone`, default vocoder vs `vocoder=griffinlim`, interleaved so drifting load hits both alike.

`python -m bench.default_speed` prints both tables and replaces its section in bench/RESULTS.md.
"""
import argparse
import io
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
import torch

from bench.rtf import TEXTS
from bench.stack_bench import first_audio_byte
from bench.util import REFERENCE, machine, replace_section, table
from bench.vocoder_speed import piper_row
from common.stack import plan_stack, start_stack
from encoder_svc.inference import embed_reference, load_encoder
from synthesizer_svc.inference import synthesize
from synthesizer_svc.runtime import load_runtime
from synthesizer_svc.settings import SynthesizerSettings
from synthesizer_svc.spectrum_restore import calibrate
from vocoder_svc.hifigan_runtime import load_hifigan_vocoder
from vocoder_svc.inference import vocode_griffinlim
from vocoder_svc.settings import VocoderSettings

ENGINE_NAMES = {"openvino": "OpenVINO", "onnxruntime": "ONNX Runtime", "torch": "torch"}
SECTION = "## Default models: end-to-end speed and first streamed audio"
THREE = "The first sentence is here. A second sentence follows it. And this is the third one."
REPEATS = 3   # best of 3 in-process (load spikes inflate single runs)
# median of 7 over HTTP: with 3, the streamed first-audio ratio ranged 1.05-1.21x over six runs of the same code
STREAM_REPEATS = 7
VOCODER_ROUNDS = 5


def best_of(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def in_process_rows(threads: int) -> list[dict]:
    torch.set_num_threads(threads)
    wav, sr = sf.read(REFERENCE, dtype="float32")
    ten_s = np.tile(wav, int(np.ceil(10 * sr / len(wav))))[: 10 * sr]
    encoder, runtime = load_encoder(), load_runtime(SynthesizerSettings())
    synthesizer = runtime.model
    embedding = embed_reference(encoder, ten_s).embedding
    encode_s = best_of(lambda: embed_reference(encoder, ten_s))
    text = TEXTS["medium"]
    # as served: the embedding at the checkpoint's speaker emphasis, the voice's spectrum given back
    # (spectrum_restore); a voice's first request also measures its difference, later ones find it cached
    factor = runtime.factor_for(None)
    emphasized = runtime.emphasize(embedding[None], factor)
    mel = np.concatenate(synthesize(synthesizer, [text], emphasized, max_frames=1000, seed=0).mels, 1)
    synth_s = best_of(lambda: synthesize(synthesizer, [text], emphasized, max_frames=1000, seed=0))
    calibrate_s = (best_of(lambda: calibrate(synthesizer, embedding, emphasized[0], max_frames=1000))
                   if runtime.restore_weight_for(factor) else 0.0)
    audio_s = (mel.shape[1] - 1) * 200 / 16000
    default_voice = VocoderSettings.model_fields["hifigan_voice"].default
    voices = dict.fromkeys([default_voice, "universal", "lite"])
    loaded = {v: load_hifigan_vocoder(v, threads=threads) for v in voices}   # each on the default engine
    vocoders = {f"HiFi-GAN {v}{' (default)' if v == default_voice else ''}, {ENGINE_NAMES[h.engine]}"
                f"{', stage 2 in int8' if h.precision == 'int8' else ''}": h.vocode for v, h in loaded.items()}
    if loaded["universal"].precision != "fp32":   # what int8 buys, side by side
        fp32 = load_hifigan_vocoder("universal", threads=threads, precision="fp32")
        vocoders[f"HiFi-GAN universal, {ENGINE_NAMES[fp32.engine]}, fp32"] = fp32.vocode
    vocoders["Griffin-Lim, 32 iterations"] = lambda m: vocode_griffinlim(m, 0, 32)
    for vocode in vocoders.values():
        vocode(mel[:, :40])  # warm-up
    # rounds that take every vocoder in turn, best of each: the machine's speed drifts over a run (one-after-the-
    # other best-of-3 had int8 behind fp32 in 2 of 5 runs that alternating rounds did not repeat)
    vocode_times = {name: [] for name in vocoders}
    for _ in range(VOCODER_ROUNDS):
        for name, vocode in vocoders.items():
            vocode_times[name].append(best_of(lambda: vocode(mel), 1))  # noqa: B023 - called at once
    rows = []
    for name, times in vocode_times.items():
        vocode_s = min(times)
        known = encode_s + synth_s + vocode_s
        rows.append({"vocoder": name, "vocoder RTF": f"{vocode_s / audio_s:.3f}",
                     "end-to-end RTF, a known voice": f"{known / audio_s:.3f}",
                     "end-to-end RTF, a new voice": f"{(known + calibrate_s) / audio_s:.3f}",
                     "of which synthesizer RTF": f"{synth_s / audio_s:.3f}",
                     "of which calibration RTF": f"{calibrate_s / audio_s:.3f}"})
    piper = piper_row(1.0)
    rows.append({"vocoder": "piper joe-medium, whole TTS (reference point)", "vocoder RTF": "-",
                 "end-to-end RTF, a known voice": piper["RTF"], "end-to-end RTF, a new voice": piper["RTF"],
                 "of which synthesizer RTF": "-", "of which calibration RTF": "-"})
    return rows


def new_recordings(count: int) -> list[bytes]:
    """The reference, each copy with its own faint noise (-60 dBFS): another voice to every cache, so the
    synthesizer measures its spectrum difference (spectrum_restore) as for a user's first clone of a recording.
    Made before the timing starts."""
    wav, sr = sf.read(REFERENCE, dtype="float32")
    noise, files = np.random.default_rng(0), []
    for _ in range(count):
        out = io.BytesIO()
        sf.write(out, wav + noise.normal(0, 1e-3, len(wav)).astype(np.float32), sr, format="WAV", subtype="PCM_16")
        files.append(out.getvalue())
    return files


def first_audio_rows() -> list[dict]:
    ref = Path(REFERENCE).read_bytes()
    stack = start_stack(plan_stack(env={"LOG_LEVEL": "WARNING"}), timeout=600)
    try:
        base = stack.services["orchestrator"].url
        client = httpx.Client(timeout=600)

        fresh = iter(new_recordings(2 * (STREAM_REPEATS + 1)))   # the warm-ups' and every timed run's

        def stream(vocoder: str | None, new_voice: bool = False):
            data = {"text": THREE, "stream": "true", "seed": "0", **({"vocoder": vocoder} if vocoder else {})}
            return lambda: client.stream("POST", base + "/v1/clone", data=data, files={
                "reference_audio": ("r.wav", next(fresh) if new_voice else ref)})

        # a new recording pays its voice's spectrum calibration before the first audio, whatever the vocoder:
        # each is set against Griffin-Lim's in the same case
        systems = {"default vocoder": stream(None), "griffinlim": stream("griffinlim"),
                   "default vocoder, a new recording each time": stream(None, new_voice=True),
                   "griffinlim, a new recording each time": stream("griffinlim", new_voice=True)}
        for fn in systems.values():
            first_audio_byte(fn)  # warm-up: every stage's first request
        runs = {name: [] for name in systems}
        for _ in range(STREAM_REPEATS):
            for name, fn in systems.items():
                runs[name].append(first_audio_byte(fn))
        first = {name: np.median([r["first_audio_s"] for r in rs]) for name, rs in runs.items()}
        gl_first = {False: first["griffinlim"], True: first["griffinlim, a new recording each time"]}
        return [{"streamed /v1/clone, 3 sentences": name,
                 "first audio byte s": f"{first[name]:.2f}",
                 "vs Griffin-Lim": f"{first[name] / gl_first['new recording' in name]:.2f}x",
                 "complete s": f"{np.median([r['total_s'] for r in rs]):.2f}",
                 "playback stalls s": f"{np.median([r['stall_s'] for r in rs]):.2f}"} for name, rs in runs.items()]
    finally:
        stack.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(REFERENCE).parents[2] / "bench" / "RESULTS.md")
    args = ap.parse_args(argv)
    load = open("/proc/loadavg").read().split()[0]
    speed, first = in_process_rows(args.threads), first_audio_rows()
    text = (f"{SECTION}\n\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; load average at "
            f"start {load}. Medium text: bench/rtf.py's, in the tests/data/ref_slt.wav voice; end-to-end = a 10 s "
            "reference embedded + synthesis + vocoding, best of 3 (vocoding: of 5 rounds taking every vocoder in "
            "turn). Targets: vocoder RTF <= 0.25, end-to-end RTF <= 0.4, first streamed audio within 1.2x of "
            "Griffin-Lim's. `python -m bench.default_speed`.\n\n"
            + table(speed, list(speed[0])) + "\n\n" + table(first, list(first[0])) + "\n")
    replace_section(args.out, SECTION, text)
    print(text)


if __name__ == "__main__":
    main()
