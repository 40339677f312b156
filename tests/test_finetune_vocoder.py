"""training.finetune_vocoder on real recordings: the smoothing it trains against, a short run that resumes
and exports, and the export served by the vocoder's loader through HIFIGAN_LITE_WEIGHTS."""
import json
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from common import audio
from common.checkpoints import file_sha256
from common.paths import DEFAULT_HIFIGAN_LITE
from tests.conftest import DATA
from training import finetune_vocoder as ft
from vocoder_svc.hifigan import LITE, load_hifigan
from vocoder_svc.runtime import load_hifigan as load_service_hifigan
from vocoder_svc.settings import VocoderSettings


def test_smoothing_grows_with_strength_on_a_real_clip():
    wav, _ = sf.read(DATA / "librispeech_19-198-0000.flac", dtype="float32")
    mel = audio.melspectrogram(wav).astype(np.float32)
    figures = [ft.smoothness([mel])] + [ft.smoothness([ft.smooth(mel, s)]) for s in (0.0, 0.5, 1.0)]
    for key in ("band_std", "freq_step", "time_step"):
        values = [f[key] for f in figures]
        assert values == sorted(values, reverse=True) and values[-1] < 0.8 * values[0], (key, values)
    smoothed = ft.smooth(mel, 1.0)
    assert smoothed.shape == mel.shape and smoothed.dtype == np.float32 and np.abs(smoothed).max() <= 4


def run(tmp_path, steps: int) -> list[dict]:
    args = ft.parse_args(["--audio", str(tmp_path / "audio"), "--run", str(tmp_path / "run"), "--batch", "2",
                          "--steps", str(steps), "--save-every", "2", "--export", str(tmp_path / "lite.pt")])
    ft.train(args)
    return [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]


def test_fine_tune_trains_resumes_and_exports_a_generator_the_vocoder_serves(tmp_path):
    # speaker10 is held out by ft.held_out's hash: the progress figure, never a training window
    for speaker, name in (("speaker0", "ref_slt.wav"), ("speaker1", "ref_awb.wav"),
                          ("speaker10", "librispeech_19-198-0000.flac")):
        (tmp_path / "audio" / speaker).mkdir(parents=True)
        shutil.copy(DATA / name, tmp_path / "audio" / speaker / ("clip" + Path(name).suffix))  # no LibriSpeech id in the name
    assert [ft.held_out(p) for p in ft.list_clips(tmp_path / "audio")] == [False, False, True]
    log = run(tmp_path, 2)
    assert [r["step"] for r in log] == [0, 1, 2] and log[0]["held_out_smoothed"] > 0 and log[-1]["held_out_real"] > 0
    assert all(np.isfinite(r["mel"]) for r in log[1:])
    log = run(tmp_path, 3)                      # resumes at step 2 from last.pt
    assert [r["step"] for r in log][-2:] == [2, 3]
    exported = torch.load(tmp_path / "lite.pt", weights_only=True)
    assert exported["step"] == 3 and all(v.dtype == torch.float16 for v in exported["model_state"].values())
    assert load_hifigan(tmp_path / "lite.pt").cfg == LITE

    served = load_service_hifigan(VocoderSettings(hifigan_voice="lite", hifigan_engine="torch",
                                                  hifigan_lite_weights=str(tmp_path / "lite.pt")))
    assert served.info()["sha256"] == file_sha256(tmp_path / "lite.pt") != file_sha256(DEFAULT_HIFIGAN_LITE)
    wav = served.vocode(np.full((80, 20), -2.0, dtype=np.float32))
    assert wav.shape == (round(19 * 275.625),) and np.isfinite(wav).all()


def gta_corpus(tmp_path) -> Path:
    """A training.real_corpus-shaped folder over the test clips (the texts are what the clips say, roughly:
    teacher forcing needs them only to attend along)."""
    real = tmp_path / "real"
    real.mkdir()
    rows = [("u_slt", "slt", DATA / "ref_slt.wav", "Author of the danger trail, Philip Steels, etc.", "train"),
            ("u_awb", "awb", DATA / "ref_awb.wav", "Author of the danger trail, Philip Steels, etc.", "train"),
            ("u_ls19", "ls_19", DATA / "librispeech_19-198-0000.flac", "Northanger Abbey by Jane Austen.", "heldout")]
    with open(real / "utterances.tsv", "w") as f:
        f.write("uid\tcorpus\tspeaker\twav\ttext\tsplit\n")
        f.writelines(f"{u}\ttest\t{s}\t{w}\t{t}\t{sp}\n" for u, s, w, t, sp in rows)
    return real


def test_teacher_forced_mels_follow_their_own_audio_and_fine_tune_on_them(tmp_path):
    from training import gta
    out = tmp_path / "gta"
    rows = gta.build(gta_corpus(tmp_path), out, None, "models/synthesizer.pt", 0, threads=1)
    assert sorted(rows) == ["u_awb", "u_ls19", "u_slt"]
    mels = {u: (np.load(out / "mels" / f"{u}.npy"), np.load(out / "gta" / f"{u}.npy")) for u in rows}
    for uid, (real, synth) in mels.items():
        assert synth.shape == real.shape and synth.dtype == np.float32 and np.abs(synth).max() <= 4
        assert float(rows[uid]["gta_l1"]) == round(float(np.abs(synth - real).mean()), 4)
        # frame-aligned with its own recording: closer to it than to another speaker's recording
        other = mels["u_awb" if uid != "u_awb" else "u_slt"][0]
        n = min(real.shape[1], other.shape[1])
        assert np.abs(synth[:, :n] - real[:, :n]).mean() < 0.8 * np.abs(synth[:, :n] - other[:, :n]).mean()
    before = (out / "index.tsv").read_text()
    assert gta.build(tmp_path / "real", out, None,
                     "models/synthesizer.pt", 0) == gta.load_index(out)   # nothing left to do: resumes
    assert (out / "index.tsv").read_text() == before

    args = ft.parse_args(["--gta", str(out), "--run", str(tmp_path / "run"), "--batch", "2", "--steps", "2",
                          "--save-every", "2", "--export", str(tmp_path / "lite.pt")])
    ft.train(args)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 1, 2] and log[0]["held_out_gta"] > 0 and log[-1]["held_out_real"] > 0
    assert torch.load(tmp_path / "lite.pt", weights_only=True)["inputs"] == "teacher-forced"
