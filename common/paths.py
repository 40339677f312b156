from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
DEFAULT_SYNTHESIZER = MODELS / "synthesizer.pt"
DEFAULT_VOCODER = MODELS / "vocoder.pt"
