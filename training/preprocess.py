"""Corpus -> training examples: RTVC mels (80, T), utterance speaker embeddings and the vocoder's
9-bit mu-law labels of the same (pre-emphasised) audio.

    python -m training.preprocess --corpus data/corpus --speechocean data/speechocean --out data/prep
    python -m training.preprocess --real /work/data/real --real-corpora vcc2016 librispeech --out data/prep_real

Sources: the synthetic corpus (metadata.tsv), speechocean762 (Kaldi `text` + WAVE/) and the real-speech
corpus of training.real_corpus (its utterances.tsv; --real-corpora keeps only those corpora, so that each
can be its own root and be repeated with 'root:N').
Re-running skips utterances already processed.
"""
import argparse
import csv
import os
from multiprocessing import Pool
from pathlib import Path

import librosa
import numpy as np
from tqdm import tqdm

from common import audio
from common.audio_io import read_16k
from common.text import text_to_sequence

MAX_FRAMES = 800
_encoder = None


def corpus_items(corpus: Path):
    with open(corpus / "metadata.tsv", newline="") as f:
        for speaker, rel, text, split in csv.reader(f, delimiter="\t"):
            yield f"syn_{speaker}_{Path(rel).stem}", speaker, str(corpus / rel), text, split


def speechocean_items(root: Path, heldout_every: int = 25):
    """Kaldi layout: <split>/text, wav.scp and utt2spk, whitespace-separated."""
    def table(path):
        return dict(line.split(None, 1) for line in path.read_text().splitlines() if line.strip())
    for split in ("train", "test"):
        texts, wavs, spks = (table(root / split / n) for n in ("text", "wav.scp", "utt2spk"))
        for utt, words in texts.items():
            spk = spks[utt].strip()
            heldout = int("".join(c for c in spk if c.isdigit()) or 0) % heldout_every == 0
            yield (f"so_{utt}", f"so_{spk}", str(root / wavs[utt].strip()), words.strip().lower().capitalize() + ".",
                   "heldout" if heldout else "train")


def real_items(root: Path, corpora: list[str] | None = None):
    """training.real_corpus's manifest: already 16 kHz, trimmed and loudness-normalised, split assigned."""
    with open(root / "utterances.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if corpora is None or row["corpus"] in corpora:
                yield row["uid"], row["speaker"], str(root / row["wav"]), row["text"], row["split"]


def clean_wav(path: str) -> np.ndarray:
    """16 kHz mono, leading/trailing silence trimmed, peak 0.9: the audio every feature is made from."""
    wav, _ = librosa.effects.trim(read_16k(path), top_db=40, frame_length=800, hop_length=200)
    return wav / max(1e-3, np.abs(wav).max()) * 0.9


def mu_law_labels(wav: np.ndarray, bits: int = 9) -> np.ndarray:
    """What WaveRNN (RAW mode) learns to predict; the vocoder undoes both steps after sampling."""
    return audio.encode_mu_law(audio.preemphasis(wav), mu=2 ** bits).astype(np.int16)


def _process(item):
    global _encoder
    uid, speaker, path, text, split, out = item
    mel_path, emb_path, quant_path = (out / d / f"{uid}.npy" for d in ("mels", "embeds", "quant"))
    if not (mel_path.exists() and quant_path.exists()):
        wav = clean_wav(path)
        if len(wav) < 8000:
            return None
        if not mel_path.exists():
            import torch
            torch.set_num_threads(1)
            from encoder_svc.inference import embed_reference, load_encoder
            if _encoder is None:
                _encoder = load_encoder()
            mel = audio.melspectrogram(wav).astype(np.float32)
            if mel.shape[1] > MAX_FRAMES:
                return None
            emb = embed_reference(_encoder, wav)
            np.save(emb_path, emb.embedding.astype(np.float32))
            np.save(mel_path, mel)
        np.save(quant_path, mu_law_labels(wav))
    n_frames = np.load(mel_path, mmap_mode="r").shape[1]
    return uid, speaker, text, n_frames, split


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--speechocean", type=Path)
    ap.add_argument("--real", type=Path, help="a training.real_corpus output folder")
    ap.add_argument("--real-corpora", nargs="+", help="only these corpora of --real (default: all)")
    ap.add_argument("--out", type=Path, default=Path("data/prep"))
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    args = ap.parse_args(argv)
    for folder in ("mels", "embeds", "quant"):
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    items = []
    if args.corpus:
        items += list(corpus_items(args.corpus))
    if args.speechocean:
        items += list(speechocean_items(args.speechocean))
    if args.real:
        items += list(real_items(args.real, args.real_corpora))
    jobs = [(*it, args.out) for it in items]
    rows = []
    with Pool(args.workers) as pool:
        for row in tqdm(pool.imap(_process, jobs, chunksize=8), total=len(jobs), desc="preprocess", unit="utt"):
            if row is not None and len(text_to_sequence(row[2])) > 2:
                rows.append(row)
    with open(args.out / "index.tsv", "w", newline="") as f:
        csv.writer(f, delimiter="\t").writerows(rows)
    hours = sum(r[3] for r in rows) * 200 / 16000 / 3600
    print(f"{len(rows)} utterances, {len({r[1] for r in rows})} speakers, {hours:.2f} h -> {args.out}")


if __name__ == "__main__":
    main()
