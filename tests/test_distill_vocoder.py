"""training.distill_vocoder end to end on a two-clip corpus: the teacher renders, the student trains,
resumes from last.pt, and its export loads in the service's generator loader."""
import csv
import json

import numpy as np
import soundfile as sf
import torch

from common import audio
from tests.conftest import DATA
from training import distill_vocoder
from vocoder_svc import mel_adapter
from vocoder_svc.hifigan import LITE, load_hifigan, weights_path


def tiny_corpus(root):
    (root / "wavs").mkdir(parents=True)
    rows = []
    for i, (name, split) in enumerate((("ref_slt.wav", "train"), ("ref_awb.wav", "heldout"))):
        wav, sr = sf.read(DATA / name, dtype="float32")
        assert sr == 16000
        sf.write(root / "wavs" / f"{i}.wav", wav[: 2 * sr], sr)
        rows.append({"uid": f"u{i}", "wav": f"wavs/{i}.wav", "seconds": "2.0", "split": split})
    with open(root / "utterances.tsv", "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)


def run(tmp_path, steps):
    args = distill_vocoder.parse_args(["--corpus", str(tmp_path / "corpus"), "--run", str(tmp_path / "run"),
                                       "--real-minutes", "1", "--tacotron-clips", "0", "--batch", "2",
                                       "--steps", str(steps), "--save-every", "2",
                                       "--export", str(tmp_path / "lite.pt")])
    distill_vocoder.train(args)
    return [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]


def test_distillation_trains_resumes_and_exports(tmp_path):
    tiny_corpus(tmp_path / "corpus")
    log = run(tmp_path, 2)
    assert [r["step"] for r in log] == [0, 1, 2]
    assert "held_out_mel_l1" in log[0] and "held_out_mel_l1" in log[-1]
    assert len(list((tmp_path / "run" / "teacher").glob("real_*.npz"))) == 1  # the held-out clip is not rendered
    log = run(tmp_path, 3)                      # resumes at step 2 from last.pt
    assert [r["step"] for r in log][-1] == 3 and log[-2]["step"] == 2
    exported = torch.load(tmp_path / "lite.pt", weights_only=True)
    assert exported["step"] == 3 and all(v.dtype == torch.float16 for v in exported["model_state"].values())
    assert load_hifigan(tmp_path / "lite.pt").cfg == LITE


def test_fine_tune_from_weights_with_the_fidelity_term_and_a_wider_student(tmp_path):
    """--init starts from given generator weights (step 0, not theirs), --fidelity adds the input-envelope term
    to the loss, --kernels picks the teacher branches a fresh student keeps."""
    tiny_corpus(tmp_path / "corpus")
    run(tmp_path, 2)
    common = ["--corpus", str(tmp_path / "corpus"), "--real-minutes", "1", "--tacotron-clips", "0", "--batch", "2",
              "--steps", "1", "--save-every", "1"]
    tuned = tmp_path / "tuned"
    distill_vocoder.train(distill_vocoder.parse_args(common + ["--run", str(tuned), "--init", str(tmp_path / "lite.pt"),
                                                               "--fidelity", "10", "--warmup", "5"]))
    log = [json.loads(line) for line in (tuned / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 1] and log[1]["fidelity"] > 0
    assert log[1]["total"] > 10 * log[1]["fidelity"]      # the fidelity term is part of the total
    wide = tmp_path / "wide"
    distill_vocoder.train(distill_vocoder.parse_args(common + ["--run", str(wide), "--kernels", "7"]))
    model, ckpt = distill_vocoder.load_trainable(wide / "last.pt")
    assert model.cfg.resblock_kernel_sizes == (7,) and ckpt["step"] == 1


def test_fidelity_is_small_for_audio_rendered_from_its_own_mel():
    """The input-envelope term: the universal generator's audio of a real clip's mel matches that mel closely
    (its own training target: 0.23 nats measured), frame-aligned (one frame early or late: 0.36), and not another
    stretch of the same clip (2.0)."""
    wav, _ = sf.read(DATA / "librispeech_19-198-0000.flac", dtype="float32")
    mel = mel_adapter.adapt(audio.melspectrogram(wav).astype(np.float32))
    span = distill_vocoder.SEGMENT_FRAMES + 2 * distill_vocoder.CONTEXT_FRAMES
    window = torch.from_numpy(np.stack([mel[:, 20:20 + span], mel[:, 110:110 + span]]))
    with torch.inference_mode():
        out = load_hifigan(weights_path("universal"))(window)
        losses = distill_vocoder.Losses()
        own = float(losses.fidelity(out, window))
        swapped = float(losses.fidelity(out, window.flip(0)))
        shifted = [float(losses.fidelity(out, torch.roll(window, k, 2))) for k in (-1, 1)]
    assert own < 0.3 and own < min(shifted) and swapped > 1.0


def test_packed_inputs_train_as_the_corpus_does_without_it(tmp_path):
    """--pack-inputs writes the stage-1 RTVC mels (no audio: the teacher renders its targets from them) and
    --inputs trains from that file alone, the corpus gone, as for a GPU machine with a capped upload."""
    tiny_corpus(tmp_path / "corpus")
    common = ["--real-minutes", "1", "--tacotron-clips", "0", "--batch", "2", "--steps", "1", "--save-every", "1"]
    packed = tmp_path / "inputs.xz"
    distill_vocoder.main(["--corpus", str(tmp_path / "corpus"), "--pack-inputs", str(packed)] + common)
    args = distill_vocoder.parse_args(["--corpus", str(tmp_path / "corpus")] + common)
    from_corpus = distill_vocoder.input_mels(args)
    from_pack = distill_vocoder.input_mels(distill_vocoder.parse_args(["--inputs", str(packed)] + common))
    assert sorted(from_pack) == sorted(from_corpus) == ["heldout_00000", "real_00000"]
    for name, (mel, sharpen) in from_corpus.items():
        assert from_pack[name][1] == sharpen == 1.0
        assert np.abs(from_pack[name][0] - mel).max() <= 4 / 255 + 1e-6   # 8 bits over [-4, 4]
    for p in (tmp_path / "corpus").rglob("*"):
        if p.is_file():
            p.unlink()
    distill_vocoder.train(distill_vocoder.parse_args(["--inputs", str(packed), "--run", str(tmp_path / "run")] + common))
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 1] and log[1]["held_out_mel_l1"] > 0
