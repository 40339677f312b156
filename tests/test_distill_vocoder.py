"""training.distill_vocoder end to end on a two-clip corpus: the teacher renders, the student trains,
resumes from last.pt, and its export loads in the service's generator loader."""
import csv
import json

import soundfile as sf
import torch

from tests.conftest import DATA
from training import distill_vocoder
from vocoder_svc.hifigan import LITE, load_hifigan


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
