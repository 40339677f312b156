from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A checkout keeps the shipped weights in models/; `pip install .` puts the same files beside the packages as
# voxclone_models/ (pyproject.toml), so an installed service finds them without a setting.
# voxclone_models/ first: an installed site-packages may hold some other project's models/.
MODELS = ROOT / "voxclone_models" if (ROOT / "voxclone_models").is_dir() else ROOT / "models"
DEFAULT_SYNTHESIZER = MODELS / "synthesizer.pt"
DEFAULT_VOCODER = MODELS / "vocoder.pt"
DEFAULT_HIFIGAN_LITE = MODELS / "hifigan_lite.pt"   # training.distill_vocoder's generator (HIFIGAN_VOICE=lite)
DEFAULT_SPEAKER_MEAN = MODELS / "speaker_mean.npy"  # training.speaker_mean (synthesizer_svc.speaker_emphasis)
