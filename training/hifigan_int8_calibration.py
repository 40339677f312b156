"""Write models/hifigan_int8_calibration.npz, the mels HIFIGAN_PRECISION=int8 takes its activation ranges from
(vocoder_svc.hifigan_int8), and the default generator's ranges measured on them,
models/hifigan_int8_ranges-KEY.json, so a service starts without measuring them (minutes on 2 cores).

Our default synthesizer, as served (the checkpoint's speaker emphasis with its spectrum restore), speaks two
training sentences in each of 64 LibriSpeech train-clean-100 voices: the first clip of each of the first 64
speakers in Resemblyzer's `audio_data/librispeech_train-clean-100` (none of them is an evaluation speaker,
training/real_eval.tsv). Seeded, so the file is the same on every run of the same checkpoint. (16 voices x 1
sentence gave ranges whose stage-1-3 graph lost 0.09 DNSMOS, 64 x 2 0.065; the shipped stage-2 graph loses none;
bench/RESULTS.md.) Measuring the ranges takes about 15 minutes on 2 cores.

    python -m training.hifigan_int8_calibration [--audio DIR]
"""
import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np

from common.audio_io import read_16k
from encoder_svc.inference import embed_reference, load_encoder
from synthesizer_svc.runtime import load_runtime
from synthesizer_svc.settings import SynthesizerSettings
from synthesizer_svc.spectrum_restore import synthesize_restored
from training.evaluate_real import audio_root
from training.sentences import load_sentences
from training.speaker_mean import speaker_of
from vocoder_svc import hifigan_int8
from vocoder_svc.hifigan_int8 import CALIBRATION_MELS
from vocoder_svc.hifigan_runtime import DEFAULT_VOICE, load_hifigan_vocoder, onnx_graph

SPEAKERS = 64
SENTENCES_PER_SPEAKER = 2
MAX_FRAMES = 400   # 5 s: ranges need variety, not length


def first_clip_per_speaker(folder: Path, count: int) -> list[Path]:
    firsts: dict[str, Path] = {}
    for path in sorted(folder.glob("*.flac")):
        firsts.setdefault(speaker_of(path, "name"), path)
    return [firsts[s] for s in sorted(firsts)[:count]]


def calibration_set(clips: list[Path]) -> dict[str, np.ndarray]:
    encoder, runtime = load_encoder(), load_runtime(SynthesizerSettings())
    factor = runtime.factor_for(None)
    weight = runtime.restore_weight_for(factor)
    sentences = load_sentences()
    mels = {}
    per = SENTENCES_PER_SPEAKER
    for i, clip in enumerate(clips):
        given = embed_reference(encoder, read_16k(clip)).embedding
        emphasized = runtime.emphasize(given[None], factor)[0]
        texts = [sentences[(i * per + j) * 5 % 400] for j in range(per)]   # no evaluation sentence among them
        spoken = synthesize_restored(runtime.model, texts, given, emphasized, weight, max_frames=MAX_FRAMES, seed=i)
        for j, mel in enumerate(spoken.mels):
            mels[f"{i:03d}{j}|{speaker_of(clip, 'name')}"] = mel.astype(np.float16)
        print(f"{clip.name}: {[m.shape[1] for m in spoken.mels]} frames", flush=True)
    return mels


def ship_ranges() -> Path:
    """Measure the default generator's ranges on the calibration mels in a fresh cache; copy them to models/.
    The shipped ones go first: where they are found, the loader reads them instead of measuring."""
    for old in hifigan_int8.RANGES_DIR.glob(hifigan_int8.ranges_name("*")):
        old.unlink()
    with tempfile.TemporaryDirectory() as cache:
        vocoder = load_hifigan_vocoder(DEFAULT_VOICE, cache_dir=cache, precision="int8")
        fp32 = onnx_graph(vocoder.model, vocoder.sha256, cache)
        name = hifigan_int8.ranges_name(hifigan_int8.ranges_key(fp32, vocoder.mel_sharpen, hifigan_int8.INT8_BLOCKS))
        shipped = Path(shutil.copy(Path(cache) / name, hifigan_int8.RANGES_DIR / name))
        shipped.chmod(0o644)   # ONNX Runtime writes its cache owner-only
        return shipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--audio", type=Path, default=audio_root() / "resemblyzer/audio_data/librispeech_train-clean-100")
    ap.add_argument("--ranges-only", action="store_true", help="keep the calibration mels; measure the ranges again")
    args = ap.parse_args()
    if not args.ranges_only:
        np.savez_compressed(CALIBRATION_MELS, **calibration_set(first_clip_per_speaker(args.audio, SPEAKERS)))
        print(f"wrote {CALIBRATION_MELS}")
    print(f"wrote {ship_ranges()}")


if __name__ == "__main__":
    main()
