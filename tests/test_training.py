"""The training pipeline on a tiny corpus of real recordings, through its command lines:
preprocess -> train the synthesizer and the vocoder (and resume) -> the services' loaders use the result."""
import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from common import audio
from common.paths import DEFAULT_SYNTHESIZER
from synthesizer_svc.inference import load_synthesizer, synthesize
from tests.conftest import DATA, ROOT
from training.preprocess import clean_wav
from vocoder_svc.inference import load_vocoder, vocode_wavernn

RECORDINGS = {
    "ref_slt.wav": ("slt", "The birch canoe slid on the smooth planks."),
    "ref_awb.wav": ("awb", "Glue the sheet to the dark blue background."),
    "ref_joe_22k.wav": ("joe", "It is easy to tell the depth of a well."),
}


def run_cli(*args) -> str:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          check=False, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def losses(run) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def prep(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "wavs").mkdir()
    with open(corpus / "metadata.tsv", "w", newline="") as f:
        for name, (speaker, text) in RECORDINGS.items():
            shutil.copy(DATA / name, corpus / "wavs" / name)
            csv.writer(f, delimiter="\t").writerow((speaker, f"wavs/{name}", text, "train"))
    out = tmp_path_factory.mktemp("prep")
    log = run_cli("training.preprocess", "--corpus", str(corpus), "--out", str(out), "--workers", "1")
    assert "3 utterances, 3 speakers" in log
    return corpus, out


def test_preprocess_writes_mel_embedding_and_labels_of_the_same_audio(prep):
    corpus, out = prep
    rows = list(csv.reader((out / "index.tsv").read_text().splitlines(), delimiter="\t"))
    assert len(rows) == len(RECORDINGS)
    for uid, speaker, text, n_frames, split in rows:
        name = uid.split("_", 2)[2] + ".wav"
        wav = clean_wav(str(corpus / "wavs" / name))
        mel = np.load(out / "mels" / f"{uid}.npy")
        quant = np.load(out / "quant" / f"{uid}.npy")
        emb = np.load(out / "embeds" / f"{uid}.npy")
        assert mel.shape == (80, int(n_frames)) and np.allclose(mel, audio.melspectrogram(wav), atol=1e-4)
        assert mel.shape[1] == 1 + len(quant) // audio.HP.hop_size and len(quant) == len(wav)
        assert quant.min() >= 0 and quant.max() <= 511
        # The labels decode (mu-law, then de-emphasis) back to the audio, up to 9-bit quantisation.
        back = audio.inv_preemphasis(audio.decode_mu_law(quant.astype(np.float64), 512))
        assert np.corrcoef(back, wav)[0, 1] > 0.98
        assert abs(np.linalg.norm(emb) - 1) < 1e-4 and text == RECORDINGS[name][1]


def test_vocoder_training_lowers_the_loss_resumes_and_exports_weights_the_vocoder_loads(prep, tmp_path):
    _, out = prep
    run = tmp_path / "voc"
    # Windows of 2 mel frames (400 samples; RTVC trains on 5): the GRU runs sample by sample, so the window
    # sets the step's cost (0.6 s a step at 5 frames on one thread, ~0.25 s at 2), not what is being tested.
    common = ["training.train_vocoder", "--data", f"{out}:4", "--run", str(run), "--batch", "8", "--lr", "2e-3",
              "--seq-frames", "2", "--export", str(run / "vocoder.pt"), "--save-every", "1000"]
    run_cli(*common, "--steps", "30")
    first = losses(run)
    # From ln(512) = 6.24 nats (uniform over the classes) towards the peaked mu-law label distribution.
    assert len(first) == 30 and np.mean(first[-5:]) < np.mean(first[:3]) - 0.4
    log = run_cli(*common, "--steps", "31")
    assert "step 30" in log and len(losses(run)) == 31  # resumed where it stopped

    model = load_vocoder(str(run / "vocoder.pt"))
    assert int(model.step) == 31 and model.cfg.rnn_dims == 256
    mel = np.load(next((out / "mels").glob("*.npy")))[:, :12]
    wav = vocode_wavernn(model, mel, target=1000, overlap=100)
    assert wav.shape == ((mel.shape[1] - 1) * audio.HP.hop_size,) and np.isfinite(wav).all()


def test_synthesizer_training_lowers_the_loss_and_exports_weights_the_synthesizer_loads(prep, tmp_path):
    _, out = prep
    run = tmp_path / "synth"
    run_cli("training.train_synthesizer", "--data", f"{out}:4", "--run", str(run), "--batch", "4",
            "--steps", "30", "--export", str(run / "synthesizer.pt"), "--save-every", "1000")
    trace = losses(run)
    assert len(trace) == 30 and np.mean(trace[-5:]) < 0.9 * np.mean(trace[:3])  # still in lr warm-up

    model = load_synthesizer(str(run / "synthesizer.pt"))
    emb = np.load(next((out / "embeds").glob("*.npy")))[None]
    result = synthesize(model, ["A short test."], emb, max_frames=100)
    assert result.mels[0].shape[0] == 80 and 0 < result.mels[0].shape[1] <= 100


def test_pack_carries_the_training_split_to_another_folder_within_half_a_quantization_step(prep, tmp_path):
    _, out = prep
    packed = tmp_path / "prep.xz"
    run_cli("training.pack", "pack", f"{out}:3", "--out", str(packed))  # a mix's repeat packs each utterance once
    run_cli("training.pack", "unpack", str(packed), "--into", str(tmp_path / "data"))
    back = tmp_path / "data" / out.name
    step = 2 * audio.HP.max_abs_value / 255
    assert (back / "index.tsv").read_text() == (out / "index.tsv").read_text()
    for row in csv.reader((out / "index.tsv").read_text().splitlines(), delimiter="\t"):
        uid = row[0]
        mel, mel_back = (np.load(root / "mels" / f"{uid}.npy") for root in (out, back))
        emb, emb_back = (np.load(root / "embeds" / f"{uid}.npy") for root in (out, back))
        assert mel_back.shape == mel.shape and np.abs(mel_back - mel).max() <= step / 2 + 1e-5
        assert np.abs(emb_back - emb).max() < 1e-3
    assert packed.stat().st_size < 0.2 * sum(f.stat().st_size for f in (out / "mels").glob("*.npy"))


def test_synthesizer_training_switches_r_of_the_weights_it_starts_from(prep, tmp_path):
    _, out = prep
    start = load_synthesizer(str(DEFAULT_SYNTHESIZER))
    assert start.r != 3
    run = tmp_path / "r3"
    log = run_cli("training.train_synthesizer", "--data", str(out), "--run", str(run), "--batch", "2",
                  "--steps", str(int(start.step) + 2), "--init", str(DEFAULT_SYNTHESIZER), "--r", "3",
                  "--export", str(run / "synthesizer.pt"))
    assert f"step {int(start.step)}, r=3" in log
    model = load_synthesizer(str(run / "synthesizer.pt"))
    assert model.r == 3 and int(model.step) == int(start.step) + 2


@pytest.mark.parametrize("rate, same", [(1.0, True), (0.0, False)])
def test_scheduled_sampling_feeds_the_decoder_its_own_frames(rate, same):
    import torch

    from synthesizer_svc.model import Tacotron, TacotronConfig
    torch.manual_seed(0)
    model = Tacotron(TacotronConfig(embed_dims=16, encoder_dims=16, decoder_dims=16, postnet_dims=16, lstm_dims=32))
    model.r = 2
    chars, emb = torch.randint(1, 60, (2, 12)), torch.randn(2, 256)
    outs = []
    for targets in (torch.randn(2, 80, 20), torch.randn(2, 80, 20)):
        torch.manual_seed(1)  # same dropout masks and draws for both calls
        outs.append(model(chars, targets, emb, own_input_rate=rate)[0])
    # Fed only its own frames, the decoder never sees the targets (only their length).
    assert torch.equal(outs[0], outs[1]) == same


@pytest.mark.parametrize("hide, padding_weight_is_zero", [(True, True), (False, False)])
def test_teacher_forced_attention_can_hide_padding_as_synthesis_does(hide, padding_weight_is_zero):
    import torch

    from synthesizer_svc.model import Tacotron, TacotronConfig
    torch.manual_seed(0)
    model = Tacotron(TacotronConfig(embed_dims=16, encoder_dims=16, decoder_dims=16, postnet_dims=16, lstm_dims=32))
    chars = torch.randint(1, 60, (2, 12))
    chars[1, 7:] = 0  # the second item is 7 characters, padded to 12
    attention = model(chars, torch.randn(2, 80, 10), torch.randn(2, 256), hide_padding=hide)[2]
    padding_weight = attention[1, :, 7:]
    assert bool((padding_weight == 0).all()) == padding_weight_is_zero
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, attention.size(1)))


def test_spectral_gradient_term_grows_with_blur_and_trains(prep, tmp_path):
    import torch
    from scipy.ndimage import uniform_filter1d

    from training.train_synthesizer import spectral_gradient_loss
    _, out = prep
    mel = np.load(next((out / "mels").glob("*.npy")))[None]
    sharp = torch.from_numpy(mel)
    by_width = [spectral_gradient_loss(torch.from_numpy(uniform_filter1d(mel, w, axis=2)), sharp).item()
                for w in (1, 3, 9)]
    assert by_width[0] == 0 and 0 < by_width[1] < by_width[2]
    run = tmp_path / "synth_delta"
    run_cli("training.train_synthesizer", "--data", str(out), "--run", str(run), "--batch", "2", "--steps", "3",
            "--delta-weight", "1.0", "--save-every", "1000")
    logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(logged) == 3 and all(r["delta"] > 0 for r in logged)


@pytest.mark.parametrize("trainable", ["speaker", "speaker-decoder"])
def test_speaker_only_fine_tune_changes_only_the_columns_that_read_the_embedding(prep, tmp_path, trainable):
    import torch

    from training.trainable import speaker_columns
    _, out = prep
    run = tmp_path / "synth_speaker"
    before = load_synthesizer(str(DEFAULT_SYNTHESIZER))
    end = int(before.step) + 3  # --steps is the step to stop at
    log = run_cli("training.train_synthesizer", "--data", str(out), "--run", str(run), "--init",
                  str(DEFAULT_SYNTHESIZER), "--batch", "2", "--steps", str(end), "--warmup", "1", "--lr", "1e-2",
                  "--trainable", trainable, "--save-every", "1000", "--keep-every", "1")
    assert "M trainable" in log
    assert [p.name for p in sorted(run.glob("step_*.pt"))] == [f"step_{s}.pt" for s in range(end - 2, end + 1)]
    after = load_synthesizer(str(run / "last.pt"))
    columns = speaker_columns(before, trainable)
    assert len(columns) == (4 if trainable == "speaker" else 1)  # speaker-decoder: not the attention's maps
    new = after.state_dict()
    changed = []
    for name, old in before.state_dict().items():
        if name == "step":
            continue
        delta = (new[name].float() - old.float()).abs()
        if name in columns:
            assert float(delta[:, columns[name]].max()) > 0, name   # the speaker's columns moved...
            delta[:, columns[name]] = 0
        if float(delta.max()) > 0:
            changed.append(name)                                    # ...and nothing else, BatchNorm stats included
    assert changed == []
    assert int(after.step) == int(before.step) + 3
    assert torch.isfinite(after.decoder.rnn_input.weight).all()
