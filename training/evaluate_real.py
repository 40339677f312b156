"""Real-voice evaluation: clone real speakers that no shipped model trained on, through `/v1/clone`.

    nice python -m training.evaluate_real --backends griffinlim,hifigan \\
        --synthesizer models/synthesizer.pt [runs/other.pt ...] --out runs/eval_real

For each synthesizer checkpoint it starts the four services on free loopback ports with
SYNTHESIZER_CHECKPOINT set (or, with `--url`, uses a stack that is already running), and for each vocoder
backend uploads each speaker's reference clip with each held-out sentence to `/v1/clone`, as a user would
(the reference re-encoded as 16-bit WAV; seed = sentence number, so every backend vocodes the same mel).
Backends the stack says it lacks (422 / 503 on the first clone) are skipped and named; `default`
sends no `vocoder` field and is labelled with what the stack's vocoder reports as its default (the way to
reach a backend the orchestrator's form does not list yet, e.g. `default=hifigan`). `/v1/clone/preview`
gives the synthesizer's own mel of the first --mel-sentences sentences per speaker, for its floor share.

Figures, per system, per speaker and overall (real_metrics.py): DNSMOS P.835 OVRL (speechmos), WER with
Whisper base (training.asr; pooled over words), GE2E cosine of the clip to the speaker's reference clip,
the share of clips nearest their own speaker among all evaluated speakers' references, the share of mel
cells at the floor (-4) in the clip's own RTVC mel (and, for clones, in the synthesizer's mel), and the
share of sentences ended by the stop token; then, clip by clip against a baseline system (the Griffin-Lim
clones unless --baseline), each clone system's difference in DNSMOS, WER and cosine with a 95% paired-bootstrap
interval (real_metrics.paired_difference), to tell a real gap from the noise of 80 clips. The same
figures are given for the references themselves (a *different* recording of each speaker, `measured` in
the manifest: WER only where its transcript is known) and for piper's `joe` voice reading the same
sentences (a trained single-voice CPU TTS; its cosine to a speaker is what an unrelated voice scores).
Prints the tables, replaces the section between
`<!-- real-eval -->` markers in models/README.md with it, and writes summary.json and the clips to --out.

The fixed speaker list is `training/real_eval.tsv` (speaker, corpus, accent, gender, the reference clip
and the measured clip as paths inside the corpus snapshot, the measured clip's transcript, licence):
four British VCTK speakers (autovc's clips: p225 F, p226 M, p227 M, p228 F; reference *_023, measured
*_003) and four American ones (LibriSpeech test-other 3331 F and 2609 M from Resemblyzer's audio_data;
TIMIT sample speakers fvmh0 F and mbgt0 M). None of these corpora's speakers is in any shipped model's
training data, and the corpus builder keeps them out. The sentences are the first ten held-out sentences
of the synthetic corpus (`training.corpus`'s test split: `load_sentences(seed=0)[-40:][:10]`), frozen
here so runs compare on any machine.

The audio is never in the repo. Extract each snapshot (bare git dirs from the `fetch` tool) under
VOXCLONE_EVAL_AUDIO (default: ../data/eval_raw beside the checkout):

    git --git-dir=G archive REVISION PATHS | tar -x -C $VOXCLONE_EVAL_AUDIO/CORPUS

with CORPUS, REPOSITORY, REVISION and PATHS from SOURCES below.
"""
import argparse
import csv
import io
import itertools
import json
import os
import signal
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf
from tqdm import tqdm

from common.audio_encode import encode
from common.audio_io import read_16k
from common.wire import CompactArray, decode_array
from training import real_metrics as rm
from training.metrics import cosine

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "training" / "real_eval.tsv"
README = ROOT / "models" / "README.md"
MARK_BEGIN, MARK_END = "<!-- real-eval -->", "<!-- /real-eval -->"


@dataclass(frozen=True)
class Source:
    repository: str
    revision: str
    paths: str
    licence: str


SOURCES = {
    "autovc": Source("auspicious3000/autovc", "c1827a60e83e6d26030b8953843b2f7cf2bd36db", "wavs",
                     "VCTK, CC BY 4.0"),
    "resemblyzer": Source("resemble-ai/Resemblyzer", "15d828edebe06bc72b9cabc8ef8ca5ab2cb457ce",
                          "audio_data/librispeech_test-other", "LibriSpeech, CC BY 4.0"),
    "nltk_timit": Source("nltk/nltk", "a8a85af0682d183480a553e84ca4cbf9f445fdab", "corpora/timit",
                         "LDC TIMIT sample, evaluation only"),
}

SENTENCES = (
    "Besides, it's good to force C programmers to use the toolbox occasionally.",
    "The moss on the tree does not fear the talons of the hawk.",
    "Actors will happen even in the best-regulated families.",
    ("Science has achieved some wonderful things, of course, but I'd far rather be happy than right any day.\" "
    "\"And are you?\" \"No."),
    ("The most salient characteristic of life is its coerciveness; it is always urgent, \"here and now,\" without "
    "any possible postponement."),
    "DIX -- the throbbing lover!",
    "Note the use of exclamation points!",
    ("Gail Wynand, who prided himself on never needing a lesson twice, did not fall in love again in the years "
    "that followed."),
    "Unmatched Almost as good as the competition.",
    "So, you better watch out!",
)


@dataclass(frozen=True)
class Speaker:
    speaker: str
    corpus: str
    accent: str
    gender: str
    reference: str
    measured: str
    measured_text: str
    licence: str


def audio_root() -> Path:
    return Path(os.environ.get("VOXCLONE_EVAL_AUDIO", ROOT.parent / "data" / "eval_raw"))


def load_manifest(path: Path = MANIFEST) -> list[Speaker]:
    with open(path, newline="") as f:
        return [Speaker(**row) for row in csv.DictReader(f, delimiter="\t")]


def read_clip(corpus: str, rel: str) -> np.ndarray:
    """16 kHz mono float32 of a clip of the manifest (NIST SPHERE, WAV or FLAC)."""
    path = audio_root() / corpus / rel
    if not path.is_file():
        src = SOURCES[corpus]
        raise SystemExit(f"{path} is missing. Extract it: git --git-dir=<bare clone of {src.repository}> "
                         f"archive {src.revision} {src.paths} | tar -x -C {audio_root() / corpus}")
    return read_16k(path)


def decode_wav(data: bytes) -> np.ndarray:
    return read_16k(io.BytesIO(data))  # a vocoder may answer at its own rate (HiFi-GAN: 22.05 kHz)


DEFAULT = "default"


class BackendMissing(Exception):
    pass


@dataclass
class Cloner:
    """The user's side of `/v1/clone` and `/v1/clone/preview` on one orchestrator."""
    url: str
    client: httpx.Client

    def _post(self, route: str, ref: bytes, text: str, seed: int, backend: str | None) -> httpx.Response:
        data = {"text": text, "seed": str(seed), **({"vocoder": backend} if backend else {})}
        return self.client.post(self.url + route, data=data, files={"reference_audio": ("reference.wav", ref,
                                                                                         "audio/wav")})

    def clone(self, ref: bytes, text: str, seed: int, backend: str) -> tuple[np.ndarray, bool]:
        """`backend` "default": no `vocoder` field, so the stack's default vocoder answers."""
        r = self._post("/v1/clone", ref, text, seed, None if backend == DEFAULT else backend)
        if r.status_code in (422, 503):  # the orchestrator does not know it, or the vocoder has no weights
            raise BackendMissing(f"{r.status_code}: {r.json().get('error', {}).get('message', r.text)}")
        r.raise_for_status()
        return decode_wav(r.content), r.headers.get("X-Stopped") == "true"

    def synthesizer_mel(self, ref: bytes, text: str, seed: int) -> np.ndarray:
        r = self._post("/v1/clone/preview", ref, text, seed, "griffinlim")
        r.raise_for_status()
        return decode_array(CompactArray(**r.json()["mel"]), "mel", ndim=(2,))


@contextmanager
def running_stack(checkpoint: str, log_dir: Path, hifigan_voice: str = "", speaker_emphasis: str = ""):
    """The four services with this synthesizer checkpoint (and HIFIGAN_VOICE, SYNTHESIZER_SPEAKER_EMPHASIS,
    when given), on free ports; yields (orchestrator URL, the vocoder's default backend).
    `hifigan_voice`: VOICE[=WEIGHTS][:SHARPEN[:LOCK]] (HIFIGAN_MEL_SHARPEN, HIFIGAN_ENVELOPE_LOCK);
    `speaker_emphasis`: FACTOR[:RESTORE] (SYNTHESIZER_SPECTRUM_RESTORE)."""
    from common.stack import plan_stack, start_stack
    speaker_emphasis, _, restore = speaker_emphasis.partition(":")
    voice, _, rest = hifigan_voice.partition(":")
    sharpen, _, lock = rest.partition(":")
    voice, _, weights = voice.partition("=")
    env = {"SYNTHESIZER_CHECKPOINT": str(Path(checkpoint).resolve()),
           **({"HIFIGAN_VOICE": voice} if voice else {}), **({"HIFIGAN_MEL_SHARPEN": sharpen} if sharpen else {}),
           **({"HIFIGAN_LITE_WEIGHTS": str(Path(weights).resolve())} if weights else {}),
           **({"HIFIGAN_ENVELOPE_LOCK": lock} if lock else {}),
           **({"SYNTHESIZER_SPEAKER_EMPHASIS": speaker_emphasis} if speaker_emphasis else {}),
           **({"SYNTHESIZER_SPECTRUM_RESTORE": restore} if restore else {})}
    with tempfile.TemporaryDirectory() as data_dir:
        stack = plan_stack(None, log_dir=log_dir, env=env, orchestrator_env={"DATA_DIR": data_dir})
        start_stack(stack, timeout=600)
        try:
            info = httpx.get(stack.services["vocoder-0"].url + "/v1/info", timeout=60).json()
            yield stack.services["orchestrator"].url, info.get("default_backend", "")
        finally:
            stack.stop()


class RowCache:
    """Measured rows, appended to OUT/rows.jsonl as soon as each is measured, so that an interrupted run, or a
    later one adding a backend or a checkpoint, measures only what is missing (clones are seeded, so a row
    measured again comes out the same). A row's key: system, checkpoint checksum, speaker, sentence, text."""

    def __init__(self, path: Path, fresh: bool = False):
        self.path, self.rows = path, {}
        if fresh:
            path.unlink(missing_ok=True)
        elif path.exists():
            for line in path.read_text().splitlines():
                row = json.loads(line)
                row["embedding"] = np.asarray(row["embedding"], dtype=np.float32) if "embedding" in row else None
                self.rows[self.key(row)] = row

    @staticmethod
    def key(row: dict) -> tuple:
        return row["system"], row.get("checkpoint", ""), row["speaker"], row["sentence"], row.get("text")

    def get(self, **key) -> dict | None:
        row = self.rows.get(self.key(key))
        return None if row is None else {k: v for k, v in row.items() if v is not None}

    def add(self, row: dict) -> dict:
        self.rows[self.key(row)] = row
        with open(self.path, "a") as f:
            f.write(json.dumps(row, default=lambda v: v.tolist() if isinstance(v, np.ndarray) else float(v)) + "\n")
        return dict(row)


def measure_recordings(speakers: list[Speaker], refs: dict[str, np.ndarray], sentences: list[str],
                       cache: RowCache) -> list[dict]:
    """Rows for the references themselves (each speaker's measured clip) and for piper's joe voice."""
    from training.engines import speak
    rows = []
    for s in tqdm(speakers, desc="references"):
        key = {"system": "reference", "speaker": s.speaker, "sentence": -1, "text": s.measured_text}
        row = cache.get(**key) or cache.add(
            {**key, **rm.measure_clip(read_clip(s.corpus, s.measured), s.measured_text or None, refs[s.speaker])})
        rows.append(row)
    for k, text in enumerate(tqdm(sentences, desc="piper joe")):
        key = {"system": "piper_joe", "speaker": "piper_joe", "sentence": k, "text": text}
        row = cache.get(**key)
        if row is None:
            row = {**key, **rm.measure_clip(speak("piper_joe", text), text, None)}
            # piper is nobody's clone: its mean cosine to the speakers is what an unrelated voice scores
            row["cosine"] = float(np.mean([cosine(row["embedding"], e) for e in refs.values()]))
            row = cache.add(row)
        rows.append(row)
    return rows


@dataclass
class Run:
    """What every clone of one stack shares."""
    cloner: Cloner
    label: str
    checkpoint: str  # the synthesizer checkpoint's checksum ('' for a stack given by --url)
    ref_bytes: dict[str, bytes]
    ref_emb: dict[str, np.ndarray]
    cache: RowCache
    out: Path
    default_backend: str = ""  # what the stack's vocoder answers without a `vocoder` field, where known
    hifigan_voice: str = ""    # the stack's HIFIGAN_VOICE where --hifigan-voices set it


def clone_rows(run: Run, backend: str, jobs: list[tuple[Speaker, int, str]]) -> list[dict]:
    """Clones every job through one backend (BackendMissing from the first clone if the stack lacks it);
    the next clone is requested while this one is measured."""
    named = f"{DEFAULT}={run.default_backend}" if backend == DEFAULT and run.default_backend else backend
    if run.hifigan_voice and named.endswith("hifigan"):
        named += f"-{run.hifigan_voice}"
    system = f"{run.label}/{named}"
    keys = [{"system": system, "checkpoint": run.checkpoint, "speaker": s.speaker, "sentence": k, "text": text}
            for s, k, text in jobs]
    todo = [key for key in keys if run.cache.get(**key) is None]

    def fetch(key):
        return run.cloner.clone(run.ref_bytes[key["speaker"]], key["text"], key["sentence"], backend)

    if todo:
        first = fetch(todo[0])
        wav_dir = run.out / "wavs" / system.replace("/", "_")
        wav_dir.mkdir(parents=True, exist_ok=True)
        pool = ThreadPoolExecutor(1)
        try:
            results = itertools.chain([first], pool.map(fetch, todo[1:]))
            for key, (wav, stopped) in zip(todo, tqdm(results, total=len(todo), desc=system)):
                sf.write(wav_dir / f"{key['speaker']}_{key['sentence']}.wav", wav, 16000)
                run.cache.add({**key, "stopped": stopped,
                               **rm.measure_clip(wav, key["text"], run.ref_emb[key["speaker"]])})
        finally:  # on Ctrl-C / SIGTERM: drop the clones not yet started instead of waiting for all of them
            pool.shutdown(wait=False, cancel_futures=True)
    return [run.cache.get(**key) for key in keys]


def synthesizer_floors(run: Run, jobs: list[tuple[Speaker, int, str]]) -> dict[tuple[str, int], float]:
    """Floor share of the synthesizer's own mel per (speaker, sentence), from /v1/clone/preview."""
    floors = {}
    for s, k, text in tqdm(jobs, desc=f"{run.label} mels"):
        key = {"system": f"{run.label}/mel", "checkpoint": run.checkpoint, "speaker": s.speaker, "sentence": k,
               "text": text}
        row = run.cache.get(**key) or run.cache.add(
            {**key, "floor": rm.floor_share(run.cloner.synthesizer_mel(run.ref_bytes[s.speaker], text, k))})
        floors[(s.speaker, k)] = row["floor"]
    return floors


def evaluate_stack(run: Run, backends: list[str], speakers: list[Speaker], sentences: list[str],
                   mel_sentences: int) -> list[dict]:
    # Sentence-major order: a run stopped part-way has measured every speaker on its first sentences, so
    # `--sentences N` on the same --out then gives a complete table from the rows already measured.
    jobs = [(s, k, text) for k, text in enumerate(sentences) for s in speakers]
    rows = []
    for backend in backends:
        try:
            rows += clone_rows(run, backend, jobs)
        except BackendMissing as exc:
            print(f"skipping backend {backend}: {exc}", file=sys.stderr, flush=True)
    # The synthesizer's mel is the same for every backend (same seed), so its floor share is taken once, on
    # the first `mel_sentences` sentences of each speaker (a steady figure: 0.1% vs 9% for real speech).
    floors = synthesizer_floors(run, [job for job in jobs if job[1] < mel_sentences])
    for row in rows:
        row["synth_floor"] = floors.get((row["speaker"], row["sentence"]))
    return rows


def summarize(rows: list[dict], speakers: list[Speaker]) -> dict:
    """{system: {"all": figures, speaker: figures, ...}} in the order systems first appear."""
    systems = list(dict.fromkeys(r["system"] for r in rows))
    out = {}
    for system in systems:
        mine = [r for r in rows if r["system"] == system]
        out[system] = {"all": rm.pool(mine)}
        for s in speakers:
            theirs = [r for r in mine if r["speaker"] == s.speaker]
            if theirs:
                out[system][s.speaker] = rm.pool(theirs)
    return out


COLUMNS = (("DNSMOS", "dnsmos", "{:.2f}"), ("WER", "wer", "{:.3f}"), ("cosine", "cosine", "{:.3f}"),
           ("nearest own", "nearest_own", "{:.0%}"), ("floor", "floor", "{:.1%}"),
           ("synth floor", "synth_floor", "{:.1%}"), ("stop", "stopped", "{:.0%}"), ("clips", "clips", "{}"))


def render_table(summary: dict, speakers: list[Speaker]) -> str:
    """One markdown table: per system an `all` row (bold system name) then one row per speaker."""
    who = {s.speaker: f"{s.speaker} ({s.accent[0].upper()}{s.gender[0].upper()})" for s in speakers}
    lines = ["| system | speaker | " + " | ".join(c[0] for c in COLUMNS) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    for system, groups in summary.items():
        for name, figures in groups.items():
            cells = ["—" if figures.get(key) is None else fmt.format(figures[key]) for _, key, fmt in COLUMNS]
            label = f"**{system}**" if name == "all" else system
            lines.append(f"| {label} | {who.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def baseline_system(summary: dict, wanted: str) -> str | None:
    """The system the others are compared with: `wanted` where given (an exact label), else the first Griffin-Lim
    clone system (issue 25's targets are against it, same synthesizer)."""
    if wanted:
        return wanted if wanted in summary else None
    return next((s for s in summary if s.endswith("/griffinlim")), None)


def compare(rows: list[dict], baseline: str) -> dict:
    """{system: {figure: paired_difference vs `baseline`}} for each other clone system (not reference / piper /
    mel rows, which read other audio or no audio)."""
    base = [r for r in rows if r["system"] == baseline]
    others = [s for s in dict.fromkeys(r["system"] for r in rows)
              if s != baseline and "/" in s and not s.endswith("/mel")]
    return {s: {k: rm.paired_difference([r for r in rows if r["system"] == s], base, k)
                for k in rm.DIFFERENCE_KEYS} for s in others}


def render_comparison(differences: dict, baseline: str) -> str:
    """One markdown table: each system minus the baseline, on the clips both have, with 95% intervals."""
    lines = [f"| system minus {baseline} | DNSMOS | WER | cosine | clips |", "|---|---|---|---|---|"]
    for system, figures in differences.items():
        cells = ["—" if f is None else f"{f['difference']:+.3f} [{f['low']:+.3f}, {f['high']:+.3f}]"
                 for f in (figures[k] for k in rm.DIFFERENCE_KEYS)]
        clips = next((f["clips"] for f in figures.values() if f is not None), 0)
        lines.append(f"| {system} | " + " | ".join(cells) + f" | {clips} |")
    return "\n".join(lines)


def replace_section(text: str, section: str) -> str:
    """`text` with the part between the real-eval markers replaced by `section` (appended if absent)."""
    block = f"{MARK_BEGIN}\n{section.strip()}\n{MARK_END}"
    if MARK_BEGIN in text and MARK_END in text:
        head, rest = text.split(MARK_BEGIN, 1)
        return head + block + rest.split(MARK_END, 1)[1]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def readme_section(table: str, command: str, speakers: list[Speaker], sentences: int) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"### Real-voice evaluation\n\n`{command}` ({when}; {len(speakers)} real held-out speakers x "
            f"{sentences} held-out sentences through `/v1/clone`; speakers in `training/real_eval.tsv`; "
            "B/A = British/American, F/M = female/male). DNSMOS P.835 OVRL; Whisper-base WER; GE2E cosine "
            "to the speaker's reference clip; nearest own = clips nearest their own speaker's reference "
            "among all speakers; floor = share of mel cells at -4 in the clip's RTVC mel (synth floor: in "
            "the synthesizer's mel); stop = sentences ended by the stop token. `reference` is a different "
            "recording of each speaker (WER only where its transcript is known); `piper_joe` reads the same "
            "sentences (its cosine is that of an unrelated voice). The second table, where a baseline system "
            "ran (Griffin-Lim unless --baseline): each clone system minus the baseline on the same clips, with "
            "95% paired-bootstrap intervals over clips.\n\n" + table)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running orchestrator (default: start a stack per --synthesizer)")
    ap.add_argument("--synthesizer", nargs="+", default=["models/synthesizer.pt"],
                    help="checkpoints compared side by side (with --url: one label for the running stack)")
    ap.add_argument("--backends", default="griffinlim,hifigan,wavernn",
                    help=f"vocoder backends; '{DEFAULT}' sends no `vocoder` field (the stack's default)")
    ap.add_argument("--hifigan-voices", default="",
                    help="comma-separated HIFIGAN_VOICE values (lite, universal, LJSpeech), each optionally with "
                         "':' and a HIFIGAN_MEL_SHARPEN factor (lite:1.3), lite also with '=' and a "
                         "HIFIGAN_LITE_WEIGHTS file (lite=runs/ft/hifigan_lite.pt:2.0), and after the factor ':' and a "
                         "HIFIGAN_ENVELOPE_LOCK strength (lite:1.5:1): one stack each, side by side; "
                         "Griffin-Lim and WaveRNN rows are measured once (same seed, same audio)")
    ap.add_argument("--speaker-emphasis", default="",
                    help="comma-separated SYNTHESIZER_SPEAKER_EMPHASIS factors (1.0,1.3), each optionally with ':' "
                         "and a SYNTHESIZER_SPECTRUM_RESTORE weight (0.7:0): one stack each per checkpoint, "
                         "labelled checkpoint@factor[:weight]")
    ap.add_argument("--speakers", help="comma-separated subset of the manifest's speakers")
    ap.add_argument("--sentences", type=int, default=len(SENTENCES))
    ap.add_argument("--mel-sentences", type=int, default=2,
                    help="sentences per speaker whose synthesizer mel is fetched (/v1/clone/preview) for its floor")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--out", type=Path, default=Path("runs/eval_real"))
    ap.add_argument("--fresh", action="store_true", help="forget the rows measured by earlier runs in --out")
    ap.add_argument("--readme", default=str(README), help="where the table goes ('' to skip)")
    ap.add_argument("--baseline", default="",
                    help="the system label the others are compared with, clip by clip (default: the first "
                         "*/griffinlim system)")
    args = ap.parse_args(argv)
    if args.url and args.speaker_emphasis:
        ap.error("--speaker-emphasis sets the stacks this command starts: not with --url")
    if args.url and len(args.synthesizer) > 1:
        ap.error("--url evaluates one running stack: give at most one --synthesizer label")
    return args


def stack_label(checkpoint: str, checkpoints: list[str]) -> str:
    """The checkpoint's file stem, or parent/stem where two checkpoints share a stem."""
    stems = [Path(c).stem for c in checkpoints]
    path = Path(checkpoint)
    return path.stem if stems.count(path.stem) == 1 else f"{path.parent.name}/{path.stem}"


def evaluate_checkpoints(args, speakers, sentences, refs_bytes, ref_emb, cache) -> list[dict]:
    from common.checkpoints import file_sha256
    rows, backends = [], [b for b in args.backends.split(",") if b]
    with httpx.Client(timeout=900) as client:
        emphases = [e for e in args.speaker_emphasis.split(",") if e] or [""]
        for checkpoint, emphasis in itertools.product(args.synthesizer, emphases):
            label = stack_label(checkpoint, args.synthesizer) + (f"@{emphasis}" if emphasis else "")
            if args.url:
                run = Run(Cloner(args.url, client), label, "", refs_bytes, ref_emb, cache, args.out)
                rows += evaluate_stack(run, backends, speakers, sentences, args.mel_sentences)
                continue
            for voice in [v for v in args.hifigan_voices.split(",") if v] or [""]:
                log_dir = args.out / "logs" / label / (voice.replace(":", "_") or "default")
                log_dir.mkdir(parents=True, exist_ok=True)
                with running_stack(checkpoint, log_dir, voice, emphasis) as (url, default_backend):
                    run = Run(Cloner(url, client), label, file_sha256(checkpoint)[:16], refs_bytes, ref_emb, cache,
                              args.out, default_backend, voice)
                    seen = {r["system"] for r in rows}
                    rows += [r for r in evaluate_stack(run, backends, speakers, sentences, args.mel_sentences)
                             if r["system"] not in seen]
    return rows


def main(argv=None):
    args = parse_args(argv)
    speakers = load_manifest(args.manifest)
    if args.speakers:
        speakers = [s for s in speakers if s.speaker in args.speakers.split(",")]
    sentences = list(SENTENCES[: args.sentences])
    args.out.mkdir(parents=True, exist_ok=True)
    cache = RowCache(args.out / "rows.jsonl", fresh=args.fresh)
    refs = {s.speaker: read_clip(s.corpus, s.reference) for s in speakers}
    ref_bytes = {name: encode(wav, 16000, "wav").data for name, wav in refs.items()}
    ref_emb = {name: rm.embed(wav) for name, wav in refs.items()}
    rows = measure_recordings(speakers, ref_emb, sentences, cache)
    rows += evaluate_checkpoints(args, speakers, sentences, ref_bytes, ref_emb, cache)
    rm.mark_nearest(rows, ref_emb)
    summary = summarize(rows, speakers)
    table = render_table(summary, speakers)
    baseline = baseline_system(summary, args.baseline)
    differences = compare(rows, baseline) if baseline else {}
    if differences:
        table += "\n\n" + render_comparison(differences, baseline)
    print(table, flush=True)
    command = "python -m training.evaluate_real " + " ".join(sys.argv[1:] if argv is None else argv)
    (args.out / "summary.json").write_text(json.dumps(
        {"command": command, "speakers": [s.__dict__ for s in speakers], "sentences": sentences,
         "summary": summary, "baseline": baseline, "differences": differences, "rows": rows}, indent=1,
        default=float))
    if args.readme:
        readme = Path(args.readme)
        readme.write_text(replace_section(readme.read_text(), readme_section(table, command, speakers,
                                                                             len(sentences))))
    return summary


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the stack this run started is stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
