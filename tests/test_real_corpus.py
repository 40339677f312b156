"""training.real_corpus on a tiny raw tree laid out like the real corpora, made of the real recordings in
tests/data: trimming, loudness, Whisper transcripts (parallel and cut at pauses), children and evaluation-only
folders left out, held-out speakers, resuming, determinism, and training.preprocess reading the manifest."""
import csv
import json

import librosa
import numpy as np
import pytest
import soundfile as sf

from training import asr, preprocess, real_corpus

SLT = "Please call Stella. Ask her to bring these things with her from the store."
JOE = "We also need a small plastic snake and a big toy frog for the kids."
AWB = "Six spoons of fresh snow peas, five thick slabs of blue cheese."


def _clip(name):
    wav, sr = sf.read(f"tests/data/{name}", dtype="float32")
    return librosa.resample(wav, orig_sr=sr, target_sr=16000) if sr != 16000 else wav


def _silence(seconds):
    return np.zeros(int(seconds * 16000), np.float32)


def _write(path, wav, sr=16000, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wav, sr, format=fmt)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    raw, out = tmp_path_factory.mktemp("raw"), tmp_path_factory.mktemp("real")
    slt, joe, awb = _clip("ref_slt.wav"), _clip("ref_joe_22k.wav"), _clip("ref_awb.wav")
    lj = raw / "lj" / "LJSpeech-1.1"
    _write(lj / "wavs" / "LJ001-0001.wav", np.concatenate([_silence(0.8), slt * 0.2, _silence(0.6)]))
    _write(lj / "wavs" / "LJ001-0002.wav", awb)
    (lj / "metadata.csv").write_text(f"LJ001-0001|{SLT}|{SLT}\nLJ001-0002|{AWB}|{AWB}\n")
    vcc = raw / "vcc2016" / "data" / "vcc2016_training"
    rng = np.random.RandomState(0)
    for spk, wav in (("SF1", slt), ("SM1", slt * 0.3), ("TF1", slt + 0.003 * rng.randn(len(slt)))):
        _write(vcc / spk / "100001.wav", wav.astype(np.float32))
    ls = raw / "resemblyzer" / "audio_data"
    long = np.concatenate([slt, _silence(0.4), joe, _silence(0.4), awb])
    _write(ls / "librispeech_train-clean-100" / "19-198-0000.flac", long, fmt="FLAC")
    _write(ls / "librispeech_test-other" / "3000-15664-0000.flac", joe, fmt="FLAC")  # evaluation only
    so = raw / "speechocean762"
    _write(so / "WAVE" / "SPEAKER0001" / "000010011.WAV", awb)
    _write(so / "WAVE" / "SPEAKER0002" / "000020011.WAV", joe)
    (so / "train").mkdir(parents=True)
    (so / "test").mkdir()
    tables = {"text": "000010011 SIX SPOONS OF FRESH SNOW PEAS\n000020011 WE ALSO NEED A SMALL PLASTIC SNAKE\n",
              "wav.scp": "000010011 WAVE/SPEAKER0001/000010011.WAV\n000020011 WAVE/SPEAKER0002/000020011.WAV\n",
              "utt2spk": "000010011 0001\n000020011 0002\n", "spk2age": "0001 31\n0002 8\n",
              "spk2gender": "0001 m\n0002 f\n"}
    for name, body in tables.items():
        (so / "train" / name).write_text(body)
        (so / "test" / name).write_text("")
    args = ["--raw", str(raw), "--out", str(out), "--workers", "1", "--parallel-voters", "2"]
    real_corpus.main(args)
    return raw, out, args


def _rows(out):
    with open(out / "utterances.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_manifest_covers_sources_and_leaves_children_and_eval_only_out(built):
    _, out, _ = built
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["corpora"]) == {"ljspeech", "vcc2016", "librispeech", "speechocean762"}
    assert manifest["corpora"]["speechocean762"]["speakers"] == 1  # the 8-year-old is left out
    assert all(c["licence"] for c in manifest["corpora"].values())
    speakers = {r["speaker"] for r in _rows(out)}
    assert "so_0002" not in speakers and not any(s.startswith("ls_3000") for s in speakers)
    with open(out / "speakers.tsv", newline="") as f:
        table = {r["speaker"]: r for r in csv.DictReader(f, delimiter="\t")}
    assert table["vcc_SF1"]["accent"] == "american" and table["so_0001"]["accent"] == "other"
    assert table["ls_19"]["held_out"] == "1"  # every corpus holds some speakers out
    total = sum(float(r["seconds"]) for r in table.values())
    assert abs(total / 3600 - manifest["hours"]) < 0.002


def test_audio_is_16k_trimmed_and_loudness_normalised(built):
    _, out, _ = built
    rows = {r["uid"]: r for r in _rows(out)}
    wav, sr = sf.read(out / rows["lj_LJ001-0001"]["wav"], dtype="float32")
    assert sr == 16000 and wav.ndim == 1
    assert len(wav) < len(_clip("ref_slt.wav")) + 0.25 * 16000  # 1.4 s of added silence mostly gone
    for row in rows.values():
        wav, _ = sf.read(out / row["wav"], dtype="float32")
        frames = librosa.util.frame(wav, frame_length=400, hop_length=200)
        rms = np.sqrt((frames ** 2).mean(axis=0))
        active = rms[rms >= rms.max() * 10 ** (-30 / 20)]
        level = 20 * np.log10(np.sqrt((active ** 2).mean()))
        assert np.abs(wav).max() <= 10 ** (-1 / 20) + 1e-3
        assert level == pytest.approx(real_corpus.TARGET_RMS_DB, abs=1.5) or np.abs(wav).max() > 0.85


def test_untranscribed_audio_gets_confident_whisper_text(built):
    _, out, _ = built
    rows = _rows(out)
    vcc = [r for r in rows if r["corpus"] == "vcc2016"]
    assert len(vcc) == 3 and len({r["text"] for r in vcc}) == 1  # one transcript per parallel sentence
    assert {r["text_source"] for r in vcc} == {"whisper-parallel"}
    assert asr.wer([SLT], [vcc[0]["text"]]) <= 0.15
    pieces = sorted((r for r in rows if r["corpus"] == "librispeech"), key=lambda r: r["uid"])
    assert len(pieces) >= 2 and all(float(r["seconds"]) <= 6.2 for r in pieces)
    assert asr.wer([f"{SLT} {JOE}"], [" ".join(r["text"] for r in pieces[:2])]) <= 0.25
    assert all(float(r["confidence"]) >= 0.5 for r in pieces)
    lj = [r for r in rows if r["corpus"] == "ljspeech"]
    assert {r["text_source"] for r in lj} == {"corpus"}


def test_rerun_resumes_and_is_deterministic(built):
    _, out, args = built
    before = (out / "utterances.tsv").read_bytes(), (out / "done.jsonl").read_text()
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "wavs").rglob("*.wav")}
    real_corpus.main(args)
    assert (out / "utterances.tsv").read_bytes() == before[0]
    assert (out / "done.jsonl").read_text() == before[1]  # nothing processed again
    assert {p: p.stat().st_mtime_ns for p in (out / "wavs").rglob("*.wav")} == mtimes


def test_split_at_pauses_cuts_at_the_widest_gap():
    words = [(0.0, 0.5, "a", 0.9), (0.6, 2.0, "b", 0.9), (2.9, 4.0, "c", 0.9), (4.1, 5.5, "d", 0.9),
             (5.6, 7.0, "e", 0.9)]
    pieces = real_corpus.split_at_pauses(words, max_seconds=6.0)
    assert [[w[2] for w in p[2]] for p in pieces] == [["a", "b"], ["c", "d", "e"]]
    assert all(end - start <= 6.0 for start, end, _ in pieces)


def test_preprocess_reads_the_manifest(built, tmp_path):
    _, out, _ = built
    preprocess.main(["--real", str(out), "--real-corpora", "ljspeech", "vcc2016", "--out", str(tmp_path),
                     "--workers", "1"])
    with open(tmp_path / "index.tsv", newline="") as f:
        index = list(csv.reader(f, delimiter="\t"))
    assert {r[1] for r in index} == {"lj", "vcc_SF1", "vcc_SM1", "vcc_TF1"}
    splits = {r[0]: r[4] for r in index}
    assert splits["lj_LJ001-0001"] == "heldout" and splits["lj_LJ001-0002"] == "train"
    mel = np.load(tmp_path / "mels" / f"{index[0][0]}.npy")
    assert mel.shape[0] == 80 and int(index[0][3]) == mel.shape[1]
