"""The speaker encoder's front end: 40-band power mel, partial-utterance slicing, volume and VAD trimming."""
import logging
from dataclasses import dataclass

import librosa
import numpy as np
from scipy.ndimage import binary_dilation

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MEL_WINDOW_MS = 25
MEL_STEP_MS = 10
MEL_CHANNELS = 40
PARTIAL_FRAMES = 160
VAD_WINDOW_MS = 30
VAD_AVERAGE_WIDTH = 8
VAD_MAX_SILENCE = 6
TARGET_DBFS = -30
INT16_MAX = 2 ** 15 - 1


def wav_to_mel(wav: np.ndarray) -> np.ndarray:
    """(frames, 40) float32 linear-power mel (not log: the GE2E model was trained on power)."""
    frames = librosa.feature.melspectrogram(
        y=wav, sr=SAMPLE_RATE, n_fft=SAMPLE_RATE * MEL_WINDOW_MS // 1000,
        hop_length=SAMPLE_RATE * MEL_STEP_MS // 1000, n_mels=MEL_CHANNELS, pad_mode="constant")
    return frames.astype(np.float32).T


@dataclass(frozen=True)
class PartialSlices:
    wav: list[tuple[int, int]]
    mel: list[tuple[int, int]]


def partial_slices(n_samples: int, partial_frames: int = PARTIAL_FRAMES, min_pad_coverage: float = 0.75,
                   overlap: float = 0.5) -> PartialSlices:
    """Half-overlapping 1.6 s windows; the last one is dropped when it would be mostly padding."""
    samples_per_frame = SAMPLE_RATE * MEL_STEP_MS // 1000
    n_frames = int(np.ceil((n_samples + 1) / samples_per_frame))
    frame_step = max(int(np.round(partial_frames * (1 - overlap))), 1)
    steps = max(1, n_frames - partial_frames + frame_step + 1)
    mel = [(i, i + partial_frames) for i in range(0, steps, frame_step)]
    wav = [(a * samples_per_frame, b * samples_per_frame) for a, b in mel]
    start, stop = wav[-1]
    if (n_samples - start) / (stop - start) < min_pad_coverage and len(mel) > 1:
        mel, wav = mel[:-1], wav[:-1]
    return PartialSlices(wav=wav, mel=mel)


def normalize_volume(wav: np.ndarray, target_dbfs: float = TARGET_DBFS, increase_only: bool = True) -> np.ndarray:
    change = target_dbfs - 10 * np.log10(np.mean(wav ** 2))
    if change < 0 and increase_only:
        return wav
    return wav * (10 ** (change / 20))


def _moving_average(flags: np.ndarray, width: int) -> np.ndarray:
    padded = np.concatenate((np.zeros((width - 1) // 2), flags, np.zeros(width // 2)))
    csum = np.cumsum(padded, dtype=float)
    csum[width:] = csum[width:] - csum[:-width]
    return csum[width - 1:] / width


def trim_long_silences(wav: np.ndarray) -> np.ndarray:
    """Drop pauses longer than ~0.2 s with webrtcvad (mode 3), as the encoder saw at training time."""
    try:
        import webrtcvad
    except ImportError:  # pragma: no cover - the install step provides webrtcvad-wheels
        log.warning("webrtcvad is not installed: silences are not trimmed and embeddings will differ")
        return wav
    window = VAD_WINDOW_MS * SAMPLE_RATE // 1000
    wav = wav[: len(wav) - len(wav) % window]
    pcm = np.round(np.clip(wav, -1, 1) * INT16_MAX).astype("<i2").tobytes()
    vad = webrtcvad.Vad(3)
    flags = np.array([vad.is_speech(pcm[i * 2:(i + window) * 2], sample_rate=SAMPLE_RATE)
                      for i in range(0, len(wav), window)], dtype=float)
    if flags.size == 0:
        return wav
    mask = np.round(_moving_average(flags, VAD_AVERAGE_WIDTH)).astype(bool)
    mask = binary_dilation(mask, np.ones(VAD_MAX_SILENCE + 1))
    return wav[np.repeat(mask, window)]


def preprocess_wav(wav: np.ndarray, source_sr: int | None = None, trim_silence: bool = True) -> np.ndarray:
    if source_sr is not None and source_sr != SAMPLE_RATE:
        wav = librosa.resample(wav, orig_sr=source_sr, target_sr=SAMPLE_RATE)
    wav = normalize_volume(wav, TARGET_DBFS, increase_only=True)
    if trim_silence:
        wav = trim_long_silences(wav)
    return wav
