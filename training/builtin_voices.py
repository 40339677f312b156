"""Rebuild the built-in voices (orchestrator_svc/builtin/): GE2E embeddings of openly licensed voices.

Only embeddings and the manifest are committed, never audio. Engine voices are spoken here with flite and
festival (apt-get install flite festival festvox-us-slt-hts); real speech comes from git snapshots extracted
under --raw (see RAW_SOURCES; `git --git-dir=G archive REV PATHS | tar -x -C RAW/...`):

    .venv/bin/python -m training.builtin_voices --raw /work/data/voices_raw

A voice's embedding is the normalised mean of its clips' embeddings (GE2E's speaker embedding).
"""
import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from common.audio_decode import DecodeLimits, decode_audio
from common.paths import ROOT
from encoder_svc.inference import embed_reference, load_encoder

OUT = ROOT / "orchestrator_svc" / "builtin"
SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
]
FLITE = "flite (CMU), BSD-style free licence"
RAW_SOURCES = {
    "libri": ("github:resemble-ai/Resemblyzer@15d828edebe06bc72b9cabc8ef8ca5ab2cb457ce",
              "audio_data/librispeech_train-clean-100"),
    "lj": ("github:PrernaSocity/lj_speech_dataset_part_1@328134a60409b5d1060f411fde6fa0eb20b22150",
           "LJSpeech-1.1/wavs"),
    "cv": ("github:omnilingo/rsample-100-cv-corpus-6.1-2020-12-11@6785f863fec9770151abfe50a5e3e3787fd20ba2",
           "en/clips"),
}
CC_BY = "CC BY 4.0 (LibriSpeech, from LibriVox public-domain recordings)"
CV_MALE, CV_FEMALE = "372293e65cda", "cf658764e695"

# name: (gender, accent, how to get clips, source, licence, OpenAI names mapped here)
VOICES = {
    "slt": ("female", "US", ("flite", "slt"), "CMU ARCTIC slt via flite", FLITE, ["alloy"]),
    "lj": ("female", "US", ("raw", "lj", "LJ001-000"), "LJSpeech 1.1 (Linda Johnson)", "public domain", ["nova"]),
    "karen": ("female", "unknown", ("raw", "libri", "103-"), "LibriSpeech train-clean-100 speaker 103", CC_BY,
              ["shimmer"]),
    "christabel": ("female", "unknown", ("raw", "libri", "1088-"), "LibriSpeech train-clean-100 speaker 1088", CC_BY,
                   ["coral"]),
    "megan": ("female", "unknown", ("raw", "libri", "1116-"), "LibriSpeech train-clean-100 speaker 1116", CC_BY,
              ["sage"]),
    "cv_f": ("female", "US", ("cv", CV_FEMALE), "Common Voice 6.1 en, client " + CV_FEMALE, "CC0", ["marin"]),
    "awb": ("male", "Scottish", ("flite", "awb"), "CMU ARCTIC awb via flite", FLITE, ["fable"]),
    "rms": ("male", "US", ("flite", "rms"), "CMU ARCTIC rms via flite", FLITE, ["onyx"]),
    "kal": ("male", "US", ("flite", "kal16"), "CMU kal diphone voice via flite (kal16)", FLITE, ["echo"]),
    "ked": ("male", "US", ("festival", "ked_diphone"), "festival ked diphone voice (CSTR/OGI)",
            "festival voice licence: free use and redistribution", ["ballad"]),
    "joe": ("male", "US", ("file", "tests/data/ref_joe_22k.wav"), "piper voice en_US-joe-medium", "CC0",
            ["ash"]),
    "alex": ("male", "unknown", ("raw", "libri", "118-"), "LibriSpeech train-clean-100 speaker 118", CC_BY, ["verse"]),
    "cv_m": ("male", "unknown", ("cv", CV_MALE), "Common Voice 6.1 en, client " + CV_MALE, "CC0", ["cedar"]),
}


def engine_clips(kind: str, voice: str, tmp: Path) -> list[bytes]:
    clips = []
    for i, sentence in enumerate(SENTENCES):
        out = tmp / f"{voice}_{i}.wav"
        if kind == "flite":
            subprocess.run(["flite", "-voice", voice, "-t", sentence, "-o", str(out)], check=True)
        else:
            (tmp / "s.txt").write_text(sentence)
            subprocess.run(["text2wave", "-eval", f"(voice_{voice})", str(tmp / "s.txt"), "-o", str(out)],
                           check=True)
        clips.append(out.read_bytes())
    return clips


def raw_clips(raw: Path, how: tuple) -> list[bytes]:
    if how[0] == "cv":
        table = (raw / "cv" / "validated.tsv").read_text().splitlines()[1:]
        names = [row.split("\t")[1] for row in table if row.startswith(how[1])]
        return [(raw / "cv" / RAW_SOURCES["cv"][1] / n).read_bytes() for n in sorted(names)]
    folder = raw / how[1] / RAW_SOURCES[how[1]][1]
    return [p.read_bytes() for p in sorted(folder.glob(how[2] + "*")) if p.suffix in (".wav", ".flac")]


def clips_for(how: tuple, raw: Path, tmp: Path) -> list[bytes]:
    if how[0] in ("flite", "festival"):
        return engine_clips(how[0], how[1], tmp)
    if how[0] == "file":
        return [(ROOT / how[1]).read_bytes()]
    return raw_clips(raw, how)


def speaker_embedding(model, clips: list[bytes]) -> np.ndarray:
    embs = [embed_reference(model, decode_audio(c, DecodeLimits(max_seconds=600.0))).embedding for c in clips]
    mean = np.mean(embs, axis=0)
    return mean / np.linalg.norm(mean)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=Path("/work/data/voices_raw"))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    model = load_encoder()
    manifest, embeddings = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (gender, accent, how, source, licence, aliases) in VOICES.items():
            clips = clips_for(how, args.raw, Path(tmp))
            embeddings[name] = [round(float(x), 6) for x in speaker_embedding(model, clips)]
            origin = RAW_SOURCES[how[1]][0] if how[0] == "raw" else (
                RAW_SOURCES["cv"][0] if how[0] == "cv" else how[0])
            manifest.append({"name": name, "gender": gender, "accent": accent, "source": source,
                             "origin": origin, "licence": licence, "clips": len(clips), "openai_names": aliases})
            print(f"{name}: {len(clips)} clips")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "manifest.json").write_text(json.dumps({"voices": manifest}, indent=1) + "\n")
    (args.out / "embeddings.json").write_text(json.dumps(embeddings) + "\n")


if __name__ == "__main__":
    main()
