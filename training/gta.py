"""Teacher-forced ("ground-truth-aligned") synthesizer mels of real speech, for fine-tuning a vocoder.

    python -m training.gta --real /work/data/real --corpora librispeech vcc2016 --out /work/data/gta \\
        [--synthesizer models/synthesizer.pt] [--limit-per-speaker 12]

Why: our synthesizer's mels are smoother than real ones and wrong in its own ways (formants, bursts); a
generator that only ever saw real mels renders them muffled (issue 25). The field's remedy (Tacotron 2,
SV2TTS) is to fine-tune the generator on the synthesizer's mels of real utterances, decoded with the true
previous frame at every step so they stay frame-aligned with the real audio, against that audio. Here each
utterance of the real-speech corpus (training.real_corpus: transcripts from the corpus or from Whisper) goes
through the shipped synthesizer teacher-forced, with its own GE2E embedding, in eval mode with the prenet's
dropout on (as at inference); its postnet mel is the vocoder's input, its audio (training.preprocess's
`clean_wav`: the audio RTVC's mel is made from) the target.

Writes out/mels/<uid>.npy (the real RTVC mel), out/gta/<uid>.npy (the synthesizer's, same frames) and
out/index.tsv (uid, speaker, source wav, frames, split, the mean |gta - real| of that utterance). Resumable
(utterances already written are skipped) and deterministic (sorted order, a seed per utterance).
"""
import argparse
import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from common import audio
from common.text import text_to_sequence
from training.preprocess import MAX_FRAMES, clean_wav, real_items

INDEX_FIELDS = ("uid", "speaker", "wav", "frames", "split", "gta_l1")


def pick(items: list[tuple], per_speaker: int) -> list[tuple]:
    """At most `per_speaker` utterances of each speaker (all when 0): the ones whose uid hashes lowest, so
    the choice is stable as the corpus grows and spreads over each speaker's recordings."""
    if not per_speaker:
        return items
    by_speaker = defaultdict(list)
    for it in items:
        by_speaker[it[1]].append(it)
    chosen = []
    for speaker in sorted(by_speaker):
        ranked = sorted(by_speaker[speaker], key=lambda it: hashlib.sha1(it[0].encode()).hexdigest())
        chosen += ranked[:per_speaker]
    return sorted(chosen)


@torch.no_grad()
def teacher_forced(model, text: str, mel: np.ndarray, embedding: np.ndarray, seed: int) -> np.ndarray:
    """The synthesizer's postnet mel (80, T) of `text` decoded against the real `mel` (80, T)."""
    torch.manual_seed(seed)
    chars = torch.tensor([text_to_sequence(text)])
    n = mel.shape[1]
    frames = torch.full((1, mel.shape[0], n + (-n % model.r)), -audio.HP.max_abs_value)
    frames[0, :, :n] = torch.from_numpy(mel)
    with model.evaluating():
        _, postnet, _, _ = model(chars, frames, torch.from_numpy(embedding[None]), hide_padding=True)
    limit = audio.HP.max_abs_value
    return postnet[0, :, :n].clamp(-limit, limit).numpy().astype(np.float32)


def load_index(out: Path) -> dict[str, dict]:
    path = out / "index.tsv"
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {row["uid"]: row for row in csv.DictReader(f, delimiter="\t")}


def build(real: Path, out: Path, corpora: list[str] | None, synthesizer: str, per_speaker: int,
          threads: int = 0) -> dict[str, dict]:
    from encoder_svc.inference import embed_reference, load_encoder
    from synthesizer_svc.inference import load_synthesizer
    if threads:
        torch.set_num_threads(threads)
    for folder in ("mels", "gta"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    done = load_index(out)
    todo = [it for it in pick(list(real_items(real, corpora)), per_speaker) if it[0] not in done]
    encoder, model = load_encoder(), load_synthesizer(synthesizer)
    new_file = not (out / "index.tsv").exists()
    with open(out / "index.tsv", "a", newline="") as f:
        writer = csv.DictWriter(f, INDEX_FIELDS, delimiter="\t")
        if new_file:
            writer.writeheader()
        for uid, speaker, wav_path, text, split in tqdm(todo, desc="teacher-forced mels", unit="utt"):
            wav = clean_wav(wav_path)
            mel = audio.melspectrogram(wav).astype(np.float32)
            if len(wav) < 8000 or mel.shape[1] > MAX_FRAMES or len(text_to_sequence(text)) <= 2:
                continue
            embedding = embed_reference(encoder, wav).embedding.astype(np.float32)
            seed = int(hashlib.sha1(uid.encode()).hexdigest()[:8], 16)
            gta = teacher_forced(model, text, mel, embedding, seed)
            np.save(out / "mels" / f"{uid}.npy", mel)
            np.save(out / "gta" / f"{uid}.npy", gta)
            row = {"uid": uid, "speaker": speaker, "wav": wav_path, "frames": mel.shape[1], "split": split,
                   "gta_l1": round(float(np.abs(gta - mel).mean()), 4)}
            writer.writerow(row)
            f.flush()
            done[uid] = row
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=Path, default=Path("/work/data/real"), help="a training.real_corpus folder")
    ap.add_argument("--corpora", nargs="+", help="only these corpora of --real (default: all)")
    ap.add_argument("--out", type=Path, default=Path("/work/data/gta"))
    ap.add_argument("--synthesizer", default="models/synthesizer.pt")
    ap.add_argument("--limit-per-speaker", type=int, default=0, help="at most N utterances a speaker (0: all)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    rows = build(args.real, args.out, args.corpora, args.synthesizer, args.limit_per_speaker, args.threads)
    frames = sum(int(r["frames"]) for r in rows.values())
    l1 = np.mean([float(r["gta_l1"]) for r in rows.values()]) if rows else float("nan")
    print(f"{len(rows)} utterances, {len({r['speaker'] for r in rows.values()})} speakers, "
          f"{frames * audio.HP.hop_size / audio.HP.sample_rate / 3600:.2f} h, mean |gta - real| {l1:.3f} -> {args.out}")


if __name__ == "__main__":
    main()
