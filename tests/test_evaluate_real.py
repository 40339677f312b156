"""The real-voice evaluation: its fixed speaker list, its measures on real recordings, its table, and a
short run through a running stack's /v1/clone.

The recordings are the evaluation pool's (never committed): extracted under VOXCLONE_EVAL_AUDIO as the
docstring of training/evaluate_real.py says; without them these tests are skipped, naming what is missing.
"""
import json

import numpy as np
import pytest

from common import audio
from training import evaluate_real as ev
from training import real_metrics as rm
from training.metrics import cosine
from training.sentences import FORTUNE_DIR, load_sentences

SPEAKERS = ev.load_manifest()
BY_NAME = {s.speaker: s for s in SPEAKERS}


def _clip(name: str, which: str = "reference") -> np.ndarray:
    s = BY_NAME[name]
    path = ev.audio_root() / s.corpus / getattr(s, which)
    if not path.is_file():
        pytest.skip(f"evaluation audio not extracted: {path}")
    return ev.read_clip(s.corpus, getattr(s, which))


def test_manifest_is_a_fixed_mix_of_accents_and_genders():
    assert len(SPEAKERS) == len(BY_NAME) >= 6
    assert {(s.accent, s.gender) for s in SPEAKERS} == {(a, g) for a in ("british", "american")
                                                        for g in ("female", "male")}
    for s in SPEAKERS:
        assert s.corpus in ev.SOURCES and s.licence
        assert s.reference != s.measured  # the reference row measures a *different* recording


def test_sentences_are_the_corpus_heldout_sentences():
    if not FORTUNE_DIR.is_dir():
        pytest.skip("Debian fortunes not installed")
    assert list(ev.SENTENCES) == load_sentences(seed=0)[-40:][:10]


def test_cosine_of_a_clip_with_itself_is_one_and_the_same_speaker_beats_another():
    ref = rm.embed(_clip("vctk_p225"))
    assert cosine(ref, rm.embed(_clip("vctk_p225"))) > 0.999
    other_clip = rm.embed(_clip("vctk_p225", "measured"))
    other_speaker = rm.embed(_clip("vctk_p226"))
    assert cosine(other_clip, ref) > cosine(other_clip, other_speaker) + 0.1


def test_nearest_own_speaker_on_real_recordings():
    names = ["vctk_p225", "vctk_p226", "timit_fvmh0", "libri_2609"]
    refs = {n: rm.embed(_clip(n)) for n in names}
    rows = [{"speaker": n, "embedding": rm.embed(_clip(n, "measured"))} for n in names]
    # The same recording filed under the wrong speaker is not nearest "its own".
    rows.append({"speaker": "vctk_p226", "embedding": refs["timit_fvmh0"]})
    rows.append({"speaker": "piper_joe", "embedding": refs["vctk_p225"]})  # not an evaluated speaker
    rm.mark_nearest(rows, refs)
    assert [r.get("nearest_own") for r in rows] == [True] * len(names) + [False, None]
    assert all("embedding" not in r for r in rows)
    assert rm.nearest_speaker(refs["libri_2609"], refs) == "libri_2609"


def test_floor_share_of_real_speech_silence_and_smooth_mels():
    speech = _clip("timit_mbgt0")
    share = rm.audio_floor_share(speech)
    assert 0.01 < share < 0.6  # real speech reaches the floor in its pauses and between harmonics
    assert rm.audio_floor_share(np.zeros(16000, np.float32)) == 1.0
    mel = audio.melspectrogram(speech)
    assert rm.floor_share(mel) == share
    # An over-smoothed mel (every cell pulled a little above the floor) has none.
    assert rm.floor_share(np.maximum(mel, rm.MEL_FLOOR + 0.2)) == 0.0


def test_dnsmos_prefers_a_recording_to_the_same_recording_in_noise():
    speech = _clip("vctk_p228")
    noisy = speech + np.random.RandomState(0).randn(len(speech)).astype(np.float32) * np.std(speech)
    clean_score, noisy_score = rm.dnsmos_ovrl(speech), rm.dnsmos_ovrl(noisy / np.abs(noisy).max())
    assert 1.0 <= noisy_score < clean_score - 0.5 <= 4.5


def test_measure_clip_on_a_real_recording_with_its_transcript():
    s = BY_NAME["vctk_p226"]
    wav = _clip(s.speaker, "measured")
    row = rm.measure_clip(wav, s.measured_text, rm.embed(_clip(s.speaker)))
    assert row["words"] == len(s.measured_text.split()) and row["errors"] <= 2
    assert row["cosine"] > 0.7 and row["seconds"] == len(wav) / 16000
    assert rm.measure_clip(wav, None, None).keys().isdisjoint({"errors", "words", "cosine"})


def test_pooled_figures_table_and_readme_section():
    rows = [{"system": "s/griffinlim", "speaker": "vctk_p225", "dnsmos": 2.0, "errors": 1, "words": 10,
             "cosine": 0.6, "nearest_own": True, "floor": 0.1, "stopped": True},
            {"system": "s/griffinlim", "speaker": "timit_mbgt0", "dnsmos": 3.0, "errors": 3, "words": 5,
             "cosine": 0.8, "nearest_own": False, "floor": 0.3, "stopped": True},
            {"system": "reference", "speaker": "libri_3331", "dnsmos": 3.5, "floor": 0.2}]
    summary = ev.summarize(rows, SPEAKERS)
    overall = summary["s/griffinlim"]["all"]
    assert overall["wer"] == pytest.approx(4 / 15)  # pooled over words, not a mean of per-clip rates
    assert overall["dnsmos"] == pytest.approx(2.5) and overall["nearest_own"] == 0.5 and overall["clips"] == 2
    assert summary["reference"]["all"]["wer"] is None  # no transcript: no WER rather than a zero
    table = ev.render_table(summary, SPEAKERS)
    lines = table.splitlines()
    assert len(lines) == 2 + 3 + 2
    assert "| **s/griffinlim** | all | 2.50 | 0.267 | 0.700 | 50% | 20.0% | — | 100% | 2 |" in lines
    assert "| reference | libri_3331 (AF) | 3.50 | — |" in table
    readme = "# Models\n\nintro\n"
    once = ev.replace_section(readme, "table one")
    twice = ev.replace_section(once + "\nafter\n", "table two")
    assert once.startswith(readme) and ev.MARK_BEGIN in once
    assert "table one" not in twice and twice.count(ev.MARK_BEGIN) == 1 and twice.endswith("after\n")


def test_short_run_through_the_running_stack(urls, tmp_path):
    _clip("vctk_p226")
    readme = tmp_path / "README.md"
    readme.write_text("# Models\n")
    out = tmp_path / "out"
    summary = ev.main(["--url", urls["orchestrator"], "--synthesizer", "shipped", "--speakers", "vctk_p226",
                       "--sentences", "1", "--mel-sentences", "1", "--backends", "griffinlim,nosuch",
                       "--out", str(out), "--readme", str(readme)])
    assert list(summary) == ["reference", "piper_joe", "shipped/griffinlim"]  # nosuch: skipped, named
    clone = summary["shipped/griffinlim"]["vctk_p226"]
    assert clone["clips"] == 1 and clone["nearest_own"] == 1.0 and 0 < clone["cosine"] < 1
    assert 1 <= clone["dnsmos"] <= 5 and clone["wer"] is not None and clone["synth_floor"] is not None
    saved = json.loads((out / "summary.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(summary)) and len(saved["rows"]) == 3
    assert saved["baseline"] == "shipped/griffinlim" and saved["differences"] == {}  # nothing else to compare
    assert (out / "wavs" / "shipped_griffinlim" / "vctk_p226_0.wav").is_file()
    assert "| **shipped/griffinlim** | all |" in readme.read_text()


def test_the_synthetic_evaluation_without_a_corpus_uses_the_corpus_split(tmp_path):
    """training.evaluate on a machine without data/corpus: the same held-out sentences training.corpus writes
    (the real-voice evaluation's ten are their first ten), and a corpus's own file wins when there is one."""
    from training.evaluate import held_out_sentences
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "test_sentences.txt").write_text("One.\nTwo.")
    assert held_out_sentences(tmp_path / "corpus") == ["One.", "Two."]
    if not FORTUNE_DIR.is_dir():
        pytest.skip("Debian fortunes not installed")
    sentences = held_out_sentences(tmp_path)
    assert len(sentences) == 40 and tuple(sentences[:10]) == ev.SENTENCES


def _clip_row(system, speaker, sentence, errors, dnsmos, cosine=0.6, words=10):
    return {"system": system, "speaker": speaker, "sentence": sentence, "errors": errors, "words": words,
            "dnsmos": dnsmos, "cosine": cosine}


def test_paired_differences_against_griffin_lim_with_bootstrap_intervals():
    speakers = ("vctk_p225", "timit_mbgt0")
    base = [_clip_row("s/griffinlim", s, k, errors=k % 3, dnsmos=2.0) for s in speakers for k in range(10)]
    same = [{**r, "system": "s/same"} for r in base]
    # one more error on every clip, DNSMOS up by one, the cosine as Griffin-Lim's
    worse = [{**r, "system": "s/default=hifigan", "errors": r["errors"] + 1, "dnsmos": 3.0} for r in base]
    mel = [{"system": "s/mel", "speaker": s, "sentence": 0, "synth_floor": 0.01} for s in speakers]
    reference = [{"system": "reference", "speaker": s, "sentence": -1, "dnsmos": 3.0} for s in speakers]
    rows = base + same + worse + mel + reference
    summary = ev.summarize(rows, SPEAKERS)
    baseline = ev.baseline_system(summary, "")
    assert baseline == "s/griffinlim" and ev.baseline_system(summary, "s/same") == "s/same"
    assert ev.baseline_system(summary, "nosuch") is None
    differences = ev.compare(rows, baseline)
    assert list(differences) == ["s/same", "s/default=hifigan"]  # neither the mel rows nor the references
    assert differences["s/same"]["wer"] == {"difference": 0.0, "low": 0.0, "high": 0.0, "clips": 20}
    wer = differences["s/default=hifigan"]["wer"]
    assert wer["difference"] == pytest.approx(0.1) and wer["low"] == pytest.approx(0.1) and wer["clips"] == 20
    assert differences["s/default=hifigan"]["dnsmos"]["difference"] == pytest.approx(1.0)
    # noisy differences get an interval around the point figure, the same every run (seeded)
    noisy = [{**r, "system": "s/noisy", "errors": r["errors"] + (1 if i % 2 else -1) * (r["errors"] > 0)}
             for i, r in enumerate(base)]
    d = rm.paired_difference(noisy, base, "wer")
    assert d["low"] < d["difference"] < d["high"] and d == rm.paired_difference(noisy, base, "wer")
    assert rm.paired_difference(noisy[:1], base, "wer") is None  # one pair: no interval
    assert rm.paired_difference(noisy, reference, "wer") is None  # no clip in common
    table = ev.render_comparison(differences, baseline)
    assert table.splitlines()[0] == "| system minus s/griffinlim | DNSMOS | WER | cosine | clips |"
    assert "| s/default=hifigan | +1.000 [+1.000, +1.000] | +0.100 [+0.100, +0.100] | +0.000 [+0.000, +0.000] | 20 |" \
        in table
