"""The voxclone CLI against the running stack (real processes, real files)."""
import subprocess
import sys

import numpy as np
import soundfile as sf

from tests.conftest import DATA, ROOT


def run_cli(urls, *args, check=True):
    cmd = [sys.executable, "-m", "orchestrator_svc.cli", "--orchestrator-url", urls["orchestrator"],
           "--encoder-url", urls["encoder"], "--synthesizer-url", urls["synthesizer"],
           "--vocoder-url", urls["vocoder"], *map(str, args)]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def test_clone_batch_and_stages(urls, tmp_path):
    out = tmp_path / "one.wav"
    run_cli(urls, "clone", DATA / "ref_awb.wav", "Hello there.", "-o", out, "--vocoder", "griffinlim")
    wav, sr = sf.read(out)
    assert sr == 16000 and len(wav) > 1000

    lines = tmp_path / "lines.txt"
    lines.write_text("First line.\n\nSecond line.\n")
    res = run_cli(urls, "batch", DATA / "ref_awb.wav", lines, "-o", tmp_path / "batch", "--format", "flac")
    assert sorted(p.name for p in (tmp_path / "batch").iterdir()) == ["0001.flac", "0002.flac"]
    assert "2 of 2 lines" in res.stdout

    run_cli(urls, "embed", DATA / "ref_slt.wav", "-o", tmp_path / "e.npy")
    assert np.load(tmp_path / "e.npy").shape == (256,)
    run_cli(urls, "synthesize", tmp_path / "e.npy", "Hi.", "-o", tmp_path / "m.npy")
    assert np.load(tmp_path / "m.npy").shape[0] == 80
    run_cli(urls, "vocode", tmp_path / "m.npy", "-o", tmp_path / "v.wav", "--vocoder", "griffinlim")
    assert sf.info(tmp_path / "v.wav").samplerate == 16000


def test_voices_and_errors(urls, tmp_path):
    vid = run_cli(urls, "voices", "add", "awb", DATA / "ref_awb.wav").stdout.strip()
    assert vid.startswith("voice_") and vid in run_cli(urls, "voices", "list").stdout
    run_cli(urls, "tts", vid, "Good.", "-o", tmp_path / "t.wav")
    assert sf.info(tmp_path / "t.wav").frames > 0
    run_cli(urls, "voices", "rm", vid)
    res = run_cli(urls, "voices", "rm", vid, check=False)
    assert res.returncode == 1 and "404" in res.stderr
    assert "ready" in run_cli(urls, "health").stdout
