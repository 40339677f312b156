"""Evaluate a synthesizer on held-out speakers and held-out sentences (Griffin-Lim vocoder).

    python -m training.evaluate --checkpoint models/synthesizer.pt --corpus data/corpus --out runs/eval

For each held-out synthetic speaker: one of its corpus utterances is the reference; each held-out sentence
is cloned from it and also spoken by the teacher (the same engine voice and warp). Reports pocketsphinx
WER of clones vs teachers, and of the teacher's own mel through Griffin-Lim (what the vocoder alone
costs: the floor for any synthesizer evaluated this way), GE2E cosine(clone, reference) and the same for
the teacher's mel through Griffin-Lim (the ceiling), whether every clone is closer to its own reference
than to the other speakers', and how many sentences ended by their stop token. Writes mel and alignment
PNGs and a JSON summary.
"""
import argparse
import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from common import audio
from common.paths import DEFAULT_SPEAKER_MEAN
from encoder_svc.inference import embed_reference, load_encoder
from synthesizer_svc.inference import load_synthesizer
from synthesizer_svc.speaker_emphasis import emphasize, load_speaker_mean
from synthesizer_svc.spectrum_restore import applied_weight, synthesize_restored
from training.corpus import plan_speakers
from training.metrics import cosine, transcribe, word_errors


def teacher_speech(speaker, text: str) -> np.ndarray:
    from training.augment import apply_warp
    from training.engines import SR, speak
    wav = speak(speaker.engine_voice, text)
    return apply_warp(wav, SR, speaker.warp) if speaker.warp else wav


def plot(mel: np.ndarray, alignment: np.ndarray, title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.5))
    a.imshow(mel, origin="lower", aspect="auto", vmin=-4, vmax=4)
    a.set_title(f"mel: {title}"[:80])
    b.imshow(alignment.T, origin="lower", aspect="auto")
    b.set_xlabel("decoder step")
    b.set_ylabel("character")
    b.set_title("attention")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def speaker_line(name: str, rs: list[dict]) -> str:
    """One table row: means per clip, WERs pooled over the speaker's words."""
    words = sum(r["words"] for r in rs)

    def mean(key):
        return np.mean([r[key] for r in rs])

    def wer(key):
        return sum(r[key] for r in rs) / words
    return (f"{name:<24}{mean('cosine'):7.3f}{mean('teacher_gl_cosine'):9.3f}{mean('closest_is_own'):6.2f}"
            f"{wer('clone_errors'):11.2f}{wer('teacher_errors'):13.2f}{wer('teacher_gl_errors'):12.2f}"
            f"{mean('stopped'):6.2f}")


def held_out_sentences(corpus: Path) -> list[str]:
    """The corpus's test_sentences.txt, or without a corpus the same split made again (training.corpus's
    defaults: the last 40 of the seeded sentence list)."""
    path = corpus / "test_sentences.txt"
    if path.exists():
        return path.read_text().split("\n")
    from training.sentences import load_sentences
    return load_sentences(seed=0)[-40:]


def reference_wavs(args, speakers) -> dict[str, np.ndarray]:
    """Each held-out speaker's 16 kHz reference: its first utterance in the corpus, or the teacher reading
    --reference-text."""
    if args.reference_text:  # the engines speak at 16 kHz (training.engines.SR)
        return {name: teacher_speech(s, args.reference_text) for name, s in speakers.items()}
    refs = {}
    with open(args.corpus / "metadata.tsv", newline="") as f:
        for name, rel, _, _ in csv.reader(f, delimiter="\t"):
            if name in speakers and name not in refs:
                refs[name] = sf.read(args.corpus / rel, dtype="float32")[0]
    return refs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="models/synthesizer.pt")
    ap.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    ap.add_argument("--out", type=Path, default=Path("runs/eval"))
    ap.add_argument("--sentences", type=int, default=5)
    ap.add_argument("--virtual-per-voice", type=int, default=14)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speaker-emphasis", type=float, default=1.0,
                    help="factor on each reference embedding's difference from models/speaker_mean.npy before "
                         "synthesis, as the service applies it (synthesizer_svc.speaker_emphasis); 1: as given")
    ap.add_argument("--spectrum-restore", type=float, default=0.0,
                    help="below --speaker-emphasis 1, give back this share of each voice's spectrum at factor 1 "
                         "after synthesis, as the service does (synthesizer_svc.spectrum_restore); 0: off")
    ap.add_argument("--reference-text", default="",
                    help="speak each held-out speaker's reference with the teacher reading this text, instead of "
                         "taking the speaker's first utterance of --corpus (for a machine without the corpus)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    encoder, synth = load_encoder(), load_synthesizer(args.checkpoint)
    sentences = held_out_sentences(args.corpus)[: args.sentences]
    speakers = {s.name: s for s in plan_speakers(args.virtual_per_voice, args.seed) if s.heldout}
    ref_wavs = reference_wavs(args, speakers)
    refs = sorted(ref_wavs)  # the speakers' names
    ref_emb = {n: embed_reference(encoder, wav).embedding for n, wav in ref_wavs.items()}
    mean = load_speaker_mean(str(DEFAULT_SPEAKER_MEAN), synth.cfg.speaker_embedding_size)
    synth_emb = {n: emphasize(e[None], mean, args.speaker_emphasis)[0] for n, e in ref_emb.items()}
    rows = []
    for name in tqdm(refs, desc="speakers"):
        res = synthesize_restored(synth, sentences, ref_emb[name], synth_emb[name],
                                  applied_weight(args.spectrum_restore, args.speaker_emphasis), seed=args.seed)
        for k, (text, mel, align, stopped) in enumerate(zip(sentences, res.mels, res.alignments, res.stopped)):
            clone = audio.griffin_lim(mel, rng=np.random.RandomState(0)).astype(np.float32)
            teacher = teacher_speech(speakers[name], text)
            emb = embed_reference(encoder, clone).embedding
            own = cosine(emb, ref_emb[name])
            others = max(cosine(emb, e) for n, e in ref_emb.items() if n != name)
            ce, n_words = word_errors(text, transcribe(clone))
            te, _ = word_errors(text, transcribe(teacher))
            teacher_gl = audio.griffin_lim(audio.melspectrogram(teacher), rng=np.random.RandomState(0))
            teacher_gl = teacher_gl.astype(np.float32)
            tge, _ = word_errors(text, transcribe(teacher_gl))
            # The same cosine for the teacher's own mel through Griffin-Lim: the ceiling for a clone here.
            teacher_gl_cos = cosine(embed_reference(encoder, teacher_gl).embedding, ref_emb[name])
            rows.append({"speaker": name, "sentence": k, "clone_errors": ce, "teacher_errors": te,
                         "teacher_gl_errors": tge, "words": n_words,
                         "cosine": own, "teacher_gl_cosine": teacher_gl_cos, "closest_is_own": own > others,
                         "stopped": stopped,
                         "seconds": len(clone) / 16000})
            sf.write(args.out / f"{name}_{k}.wav", clone, 16000)
            if k == 0:
                plot(mel, align, f"{name}: {text}", args.out / f"{name}_{k}.png")
    words = sum(r["words"] for r in rows)
    summary = {
        "checkpoint": args.checkpoint, "speaker_emphasis": args.speaker_emphasis,
        "spectrum_restore": args.spectrum_restore, "speakers": len(refs),
        "sentences": len(sentences), "clips": len(rows),
        "wer_clone": sum(r["clone_errors"] for r in rows) / words,
        "wer_teacher": sum(r["teacher_errors"] for r in rows) / words,
        "wer_teacher_griffin_lim": sum(r["teacher_gl_errors"] for r in rows) / words,
        "cosine_mean": float(np.mean([r["cosine"] for r in rows])),
        "cosine_teacher_griffin_lim": float(np.mean([r["teacher_gl_cosine"] for r in rows])),
        "closest_is_own_rate": float(np.mean([r["closest_is_own"] for r in rows])),
        "stop_rate": float(np.mean([r["stopped"] for r in rows])),
    }
    summary["wer_ratio"] = summary["wer_clone"] / max(summary["wer_teacher"], 1e-9)
    (args.out / "summary.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(f"{'speaker':<24}{'cos':>7}{'cos T+GL':>9}{'own':>6}{'WER clone':>11}{'WER teacher':>13}"
          f"{'teacher+GL':>12}{'stop':>6}")
    for name in refs:
        print(speaker_line(name, [r for r in rows if r["speaker"] == name]))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
