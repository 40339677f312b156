"""Real-speech training corpus from the public corpora extracted under /work/data/raw (see shared CORPORA.md).

    python -m training.real_corpus --raw /work/data/raw --out /work/data/real [--sources lj vctk_p239]

Every adult English speaker of the trainable sources, 16 kHz mono, leading/trailing silence trimmed, speech
loudness normalised. Transcripts come from the corpus where it has them; untranscribed recordings are
transcribed with Whisper base (training.asr) and kept only where it is confident; long untranscribed
recordings are cut at pauses into pieces of at most --max-seconds, each with its own words. Parallel corpora
(VCC2016: every speaker reads the same sentences) take one transcript per sentence, the most confident of
--parallel-voters speakers, for all its speakers.

Resumable: utterances already written (out/done.jsonl) are skipped. Deterministic: sources and files are
walked in sorted order, decoding is greedy, held-out speakers are fixed lists or picked by a hash.
Writes out/wavs/<corpus>/<speaker>/<uid>.wav, out/utterances.tsv, out/speakers.tsv and out/manifest.json.
Evaluation-only sources (LibriSpeech test-other, VCTK p240/p260, autovc's VCTK clips, TIMIT, VoxCeleb,
tortoise voices) and non-commercial ones (RAVDESS, L2-ARCTIC) are never read.
"""
import argparse
import csv
import hashlib
import json
import multiprocessing
import os
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from tqdm import tqdm

SR = 16000
TARGET_RMS_DB = -23.0  # active-speech RMS; with peaks limited to -1 dBFS no clip is scaled into clipping
EXCLUDED = {
    "librispeech test-clean, test-other (Resemblyzer audio_data/librispeech_test-other)": "held out: evaluation",
    "VCTK p240, p260; autovc's VCTK clips (p225, p226, p227, p228)": "held out: evaluation",
    "TIMIT (nltk sample)": "LDC sample: evaluation only",
    "VoxCeleb clips (sample_voice_data), tortoise voices": "rights unclear: evaluation only",
    "RAVDESS": "CC BY-NC-SA 4.0: non-commercial, not trained on",
    "L2-ARCTIC": "CC BY-NC 4.0: non-commercial, not trained on",
}
EVAL_ONLY_SPEAKERS = {"p240", "p260", "p225", "p226", "p227", "p228"}  # training/real_eval.tsv + RTVC samples


@dataclass
class Item:
    """One source recording."""
    corpus: str
    speaker: str
    path: str
    text: str | None  # None: transcribe
    accent: str
    gender: str = ""
    sentence: str = ""  # parallel corpora: the sentence id shared across speakers


@dataclass
class Source:
    folder: str
    licence: str
    accent: str
    items: object  # (root: Path) -> list[Item]
    held_out: object  # (speakers: sorted list) -> set
    parallel: bool = False


def _table(path: Path) -> dict:
    return dict(line.split(None, 1) for line in path.read_text().splitlines() if line.strip())


def speechocean_items(root: Path) -> list[Item]:
    """Kaldi layout; children (spk2age < 18: 122 of 250 speakers) are left out."""
    items = []
    for split in ("train", "test"):
        texts, wavs, spks = (_table(root / split / n) for n in ("text", "wav.scp", "utt2spk"))
        ages, genders = _table(root / split / "spk2age"), _table(root / split / "spk2gender")
        for utt in sorted(texts):
            spk = spks[utt].strip()
            if int(ages.get(spk, "0").strip()) < 18:
                continue
            items.append(Item("speechocean762", f"so_{spk}", str(root / wavs[utt].strip()),
                              texts[utt].strip().lower().capitalize() + ".", "other", genders[spk].strip()))
    return items


def vcc2016_items(root: Path) -> list[Item]:
    items = []
    for part in ("data/vcc2016_training", "data/evaluation_all"):
        for wav in sorted((root / part).glob("*/*.wav")):
            spk = wav.parent.name
            items.append(Item("vcc2016", f"vcc_{spk}", str(wav), None, "american", spk[1].lower(),
                              sentence=f"{part.rsplit('/', 1)[1]}/{wav.stem}"))
    return items


def librispeech_items(root: Path) -> list[Item]:
    """Resemblyzer's train-clean-100 clips (one ~15 s clip per speaker); test-other is never read."""
    folder = root / "audio_data" / "librispeech_train-clean-100"
    return [Item("librispeech", f"ls_{f.name.split('-')[0]}", str(f), None, "american")
            for f in sorted(folder.glob("*.flac"))]


def lj_items(root: Path) -> list[Item]:
    base = root / "LJSpeech-1.1"
    items = []
    with open(base / "metadata.csv", newline="") as f:
        for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE):
            wav = base / "wavs" / f"{row[0]}.wav"
            if wav.exists():
                items.append(Item("ljspeech", "lj", str(wav), row[-1], "american", "f"))
    return sorted(items, key=lambda i: i.path)


def vctk_items(root: Path) -> list[Item]:
    base = root / "data" / "VCTK-Corpus"
    items = []
    for wav in sorted(base.glob("wav48/*/*.wav")):
        spk = wav.parent.name
        txt = base / "txt" / spk / f"{wav.stem}.txt"
        if spk not in EVAL_ONLY_SPEAKERS and txt.exists():
            items.append(Item("vctk", f"vctk_{spk}", str(wav), txt.read_text().strip(), "british"))
    return items


CV_ACCENTS = {"us": "american", "canada": "american", "england": "british", "scotland": "british",
              "wales": "british"}


def common_voice_items(root: Path) -> list[Item]:
    """Teenagers are left out (may be minors); accent from the speaker's own Common Voice label."""
    items = []
    with open(root / "en" / "validated.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            clip = root / "en" / "clips" / row["path"]
            if row["age"] == "teens" or not clip.exists():
                continue
            items.append(Item("common_voice", f"cv_{row['client_id'][:12]}", str(clip), row["sentence"],
                              CV_ACCENTS.get(row["accent"], "other"), row["gender"][:1]))
    return sorted(items, key=lambda i: i.path)


def hashed_pick(fraction: float, at_least: int = 1):
    """The speakers whose name hashes lowest: a stable choice that does not move as a corpus grows."""
    def pick(speakers):
        ranked = sorted(speakers, key=lambda s: hashlib.sha1(s.encode()).hexdigest())
        return set(ranked[:max(at_least, round(fraction * len(speakers)))])
    return pick


def speechocean_held_out(speakers):
    """The rule training.preprocess --speechocean always used (speaker number divisible by 25)."""
    return {s for s in speakers if int("".join(c for c in s if c.isdigit()) or 0) % 25 == 0}


def no_speakers(speakers):
    return set()  # single-speaker corpora hold out utterances instead (every 20th)


SOURCES = {
    "speechocean762": Source("speechocean762", "CC BY 4.0 (free for commercial and non-commercial use)",
                             "other", speechocean_items, speechocean_held_out),
    "vcc2016": Source("vcc2016", "VCC2016 data: ODC-By 1.0", "american", vcc2016_items,
                      lambda s: {"vcc_SF3", "vcc_TM3"} & set(s), parallel=True),
    "librispeech": Source("resemblyzer", "LibriSpeech CC BY 4.0", "american", librispeech_items,
                          hashed_pick(0.03, 6)),
    "ljspeech": Source("lj", "public domain", "american", lj_items, no_speakers),
    "vctk": Source("vctk_p239", "VCTK: ODC-By 1.0 (0.80 release)", "british", vctk_items, no_speakers),
    "common_voice": Source("cv_sample", "CC0", "other", common_voice_items, hashed_pick(0.05, 4)),
}


def normalise_loudness(wav: np.ndarray) -> np.ndarray:
    """Scale so the RMS of the frames within 30 dB of the loudest is TARGET_RMS_DB, peak at most -1 dBFS."""
    frames = librosa.util.frame(np.pad(wav, (0, 400)), frame_length=400, hop_length=200)
    rms = np.sqrt((frames ** 2).mean(axis=0) + 1e-12)
    active = rms[rms >= rms.max() * 10 ** (-30 / 20)]
    gain = 10 ** (TARGET_RMS_DB / 20) / max(1e-6, float(np.sqrt((active ** 2).mean())))
    gain = min(gain, 10 ** (-1 / 20) / max(1e-6, float(np.abs(wav).max())))
    return (wav * gain).astype(np.float32)


def load_clean(path: str) -> np.ndarray:
    wav, sr = sf.read(path, dtype="float32", always_2d=True)
    wav = wav.mean(axis=1)
    if sr != SR:
        wav = librosa.resample(wav, orig_sr=sr, target_sr=SR)
    return trim(wav)


def trim(wav: np.ndarray) -> np.ndarray:
    """Leading/trailing silence below 40 dB of the peak, keeping 50 ms either side (no clipped onsets)."""
    _, (start, end) = librosa.effects.trim(wav, top_db=40, frame_length=800, hop_length=200)
    pad = SR // 20
    return wav[max(0, start - pad):end + pad]


def split_at_pauses(words, max_seconds: float) -> list[tuple[float, float, list]]:
    """Greedy pieces of whole words, each at most max_seconds, cut in the middle of the widest gap that keeps
    the piece under the limit; (start s, end s, words)."""
    pieces, current = [], []
    for w in words:
        if current and w[1] - current[0][0] > max_seconds:
            gaps = [current[i + 1][0] - current[i][1] for i in range(len(current) - 1)]
            cut = int(np.argmax(gaps)) + 1 if gaps and max(gaps) >= 0.12 else len(current)
            pieces.append(current[:cut])
            current = current[cut:]
        current.append(w)
    if current:
        pieces.append(current)
    return [(p[0][0], p[-1][1], p) for p in pieces if p[-1][1] - p[0][0] <= max_seconds]


def _write(out: Path, rel: str, wav: np.ndarray) -> None:
    path = out / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    sf.write(tmp, normalise_loudness(wav), SR, subtype="PCM_16")
    os.replace(tmp, path)


def _row(item: Item, uid: str, rel: str, wav: np.ndarray, text, source: str, confidence: float) -> dict:
    return {"uid": uid, "corpus": item.corpus, "speaker": item.speaker, "wav": rel, "text": text,
            "seconds": round(len(wav) / SR, 3), "text_source": source, "confidence": round(confidence, 4),
            "accent": item.accent, "gender": item.gender, "sentence": item.sentence}


def process(job) -> tuple[str, list[dict]]:
    """One recording -> its cleaned utterance(s): (key, rows). Whisper runs only where `transcribe` says."""
    item, out, transcribe, max_seconds = job
    stem = Path(item.path).stem
    key = f"{item.corpus}/{item.speaker}/{stem}"
    wav = load_clean(item.path)
    if len(wav) < SR // 2:
        return key, []
    rel = f"wavs/{key}.wav"
    if item.text is not None or not transcribe:
        _write(out, rel, wav)
        source = "corpus" if item.text is not None else "parallel"
        return key, [_row(item, f"{item.speaker}_{stem}", rel, wav, item.text, source, 1.0 if item.text else 0.0)]
    from training import asr
    if len(wav) <= max_seconds * SR:
        text, confidence = asr.transcribe(wav)
        _write(out, rel, wav)
        return key, [_row(item, f"{item.speaker}_{stem}", rel, wav, text, "whisper", confidence)]
    words, clip_confidence = asr.transcribe_words(wav)
    rows = []
    for k, (start, end, piece) in enumerate(split_at_pauses(words, max_seconds)):
        chunk = trim(wav[max(0, int((start - 0.05) * SR)):int((end + 0.1) * SR)])
        if len(chunk) < SR:
            continue
        confidence = float(np.exp(np.mean(np.log([max(1e-6, w[3]) for w in piece]))))
        rel_k = f"wavs/{key}_{k:02d}.wav"
        _write(out, rel_k, chunk)
        text = " ".join(w[2] for w in piece)
        rows.append(_row(item, f"{item.speaker}_{stem}_{k:02d}", rel_k, chunk, text, "whisper",
                         min(confidence, clip_confidence if clip_confidence > 0 else confidence)))
    return key, rows


def gather(raw: Path, names: list[str], voters: int) -> list[tuple[Item, bool]]:
    """(item, transcribe?) of every trainable source found under raw, in a fixed order."""
    jobs = []
    for name in names:
        src = SOURCES[name]
        if not (raw / src.folder).exists():
            print(f"{name}: {raw / src.folder} missing, skipped")
            continue
        items = src.items(raw / src.folder)
        by_sentence = defaultdict(list)
        for it in items:
            by_sentence[it.sentence].append(it.speaker)
        for it in items:
            voter = not src.parallel or it.speaker in sorted(by_sentence[it.sentence])[:voters]
            jobs.append((it, voter))
    return jobs


def settle_parallel(rows: list[dict]) -> None:
    """Parallel sentences: every speaker's copy takes the most confident voter's transcript."""
    best = {}
    for r in rows:
        sentence = r["sentence"]
        if sentence and r["text_source"] == "whisper" and (
                sentence not in best or r["confidence"] > best[sentence]["confidence"]):
            best[sentence] = r
    for r in rows:
        if r["sentence"] in best:
            r["text"], r["confidence"] = best[r["sentence"]]["text"], best[r["sentence"]]["confidence"]
            r["text_source"] = "whisper-parallel"


def assign_splits(rows: list[dict], min_confidence: float) -> dict:
    """Marks each row kept/dropped and train/heldout; returns {corpus: held-out speakers}."""
    held = {}
    by_corpus = defaultdict(list)
    for r in rows:
        by_corpus[r["corpus"]].append(r)
    for corpus, group in by_corpus.items():
        speakers = sorted({r["speaker"] for r in group})
        held[corpus] = sorted(SOURCES[corpus].held_out(speakers))
        single = len(speakers) == 1
        for i, r in enumerate(sorted(group, key=lambda r: r["uid"])):
            heldout = r["speaker"] in held[corpus] or (single and i % 20 == 0)
            r["split"] = "heldout" if heldout else "train"
            words = (r["text"] or "").split()
            r["kept"] = len(words) >= 2 and (r["text_source"] == "corpus" or r["confidence"] >= min_confidence)
    return held


def write_manifest(out: Path, rows: list[dict], held: dict, min_confidence: float) -> dict:
    kept = sorted((r for r in rows if r["kept"]), key=lambda r: r["uid"])
    cols = ["uid", "corpus", "speaker", "wav", "text", "seconds", "split", "text_source", "confidence"]
    with open(out / "utterances.tsv.tmp", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
        w.writerow(cols)
        w.writerows([r[c] for c in cols] for r in kept)
    os.replace(out / "utterances.tsv.tmp", out / "utterances.tsv")  # readers never see half a table
    speakers = defaultdict(lambda: {"utterances": 0, "seconds": 0.0})
    for r in kept:
        s = speakers[r["speaker"]]
        s.update(corpus=r["corpus"], accent=r["accent"], gender=r["gender"],
                 held_out=r["speaker"] in held[r["corpus"]], licence=SOURCES[r["corpus"]].licence)
        s["utterances"] += 1
        s["seconds"] += r["seconds"]
    with open(out / "speakers.tsv", "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["speaker", "corpus", "accent", "gender", "utterances", "seconds", "held_out", "licence"])
        for name in sorted(speakers):
            s = speakers[name]
            w.writerow([name, s["corpus"], s["accent"], s["gender"], s["utterances"], round(s["seconds"], 1),
                        int(s["held_out"]), s["licence"]])
    corpora = {}
    for corpus in sorted({r["corpus"] for r in rows}):
        mine = [r for r in kept if r["corpus"] == corpus]
        accents = defaultdict(float)
        for r in mine:
            accents[r["accent"]] += r["seconds"] / 3600
        corpora[corpus] = {
            "licence": SOURCES[corpus].licence,
            "speakers": len({r["speaker"] for r in mine}),
            "utterances": len(mine),
            "hours": round(sum(r["seconds"] for r in mine) / 3600, 3),
            "hours_train": round(sum(r["seconds"] for r in mine if r["split"] == "train") / 3600, 3),
            "hours_by_accent": {a: round(h, 3) for a, h in sorted(accents.items())},
            "held_out_speakers": held[corpus],
            "dropped_unconfident": sum(1 for r in rows if r["corpus"] == corpus and not r["kept"]),
        }
    manifest = {"sample_rate": SR, "loudness_rms_dbfs": TARGET_RMS_DB, "min_whisper_confidence": min_confidence,
                "hours": round(sum(r["seconds"] for r in kept) / 3600, 3),
                "speakers": len(speakers), "corpora": corpora, "never_read": EXCLUDED}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_done(path: Path) -> dict:
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # the torn last line of a killed run: that recording is simply done again
            done[rec["key"]] = rec["rows"]
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", type=Path, default=Path("/work/data/raw"))
    ap.add_argument("--out", type=Path, default=Path("/work/data/real"))
    ap.add_argument("--sources", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    ap.add_argument("--max-seconds", type=float, default=6.0,
                    help="untranscribed recordings longer than this are cut at pauses (the synthesizer "
                         "trains on at most 500 frames = 6.25 s)")
    ap.add_argument("--min-confidence", type=float, default=0.5, help="Whisper transcripts kept from here")
    ap.add_argument("--parallel-voters", type=int, default=1,
                    help="parallel corpora: speakers transcribed per sentence (the rest copy the best); 1 "
                         "because Whisper took ~10 s a clip on the shared 2 cores (VCC2016: 216 calls, not 2129)")
    ap.add_argument("--manifest-every", type=float, default=600,
                    help="seconds between manifest rewrites while running (the final one is always written)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N recordings of each source (tests)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = gather(args.raw, args.sources, args.parallel_voters)
    if args.limit:
        seen = defaultdict(int)
        kept = []
        for job in jobs:
            seen[job[0].corpus] += 1
            if seen[job[0].corpus] <= args.limit:
                kept.append(job)
        jobs = kept
    done_path = args.out / "done.jsonl"
    done = load_done(done_path)
    with open(done_path, "w") as f:  # rewritten whole: drops a torn last line
        f.writelines(json.dumps({"key": key, "rows": rows}) + "\n" for key, rows in done.items())
    todo = [(it, args.out, voter, args.max_seconds) for it, voter in jobs
            if f"{it.corpus}/{it.speaker}/{Path(it.path).stem}" not in done]
    wanted = {f"{it.corpus}/{it.speaker}/{Path(it.path).stem}" for it, _ in jobs}

    def manifest_now():
        rows = [dict(r) for key in sorted(wanted) for r in done.get(key, [])]
        settle_parallel(rows)
        return write_manifest(args.out, rows, assign_splits(rows, args.min_confidence), args.min_confidence)

    last_write = time.time()
    # One worker: in this process. More: spawned, never forked: a fork of a process whose torch or model threads
    # are running (a test runner's, say) can deadlock in the child.
    pool_context = multiprocessing.get_context("spawn").Pool(args.workers) if args.workers > 1 else nullcontext()
    with open(done_path, "a") as f, pool_context as pool:
        results = pool.imap(process, todo) if pool is not None else map(process, todo)
        for key, rows in tqdm(results, total=len(todo), desc="real corpus", unit="rec"):
            done[key] = rows
            f.write(json.dumps({"key": key, "rows": rows}) + "\n")
            f.flush()
            if time.time() - last_write > args.manifest_every:
                manifest_now()  # so that preprocessing and training can use what is done while it runs
                last_write = time.time()
    manifest = manifest_now()
    print(json.dumps({k: manifest[k] for k in ("hours", "speakers")}),
          {c: (v["speakers"], v["hours"]) for c, v in manifest["corpora"].items()})


if __name__ == "__main__":
    main()
