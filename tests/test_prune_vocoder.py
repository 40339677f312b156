"""training.prune_vocoder: narrowing the resblocks' inner channels and refitting the second convs."""
import numpy as np
import soundfile as sf
import torch

from common import audio
from common.checkpoints import write_checkpoint
from tests.conftest import DATA
from training.prune_vocoder import prune
from vocoder_svc import mel_adapter
from vocoder_svc.hifigan import HiFiGAN, HiFiGANConfig, load_hifigan, weights_path
from vocoder_svc.hifigan_runtime import load_hifigan_vocoder

REAL_CLIP = DATA / "librispeech_19-198-0000.flac"
SMALL = HiFiGANConfig(upsample_initial_channel=64, resblock_kernel_sizes=(3, 5), resblock_dilations=((1, 3),) * 2)


def real_generator_mel(seconds: float, clip=REAL_CLIP) -> torch.Tensor:
    wav, _ = sf.read(clip, dtype="float32")
    mel = mel_adapter.adapt(audio.melspectrogram(wav[: int(seconds * audio.HP.sample_rate)]).astype(np.float32))
    return torch.from_numpy(np.ascontiguousarray(mel))[None]


def cut_like(teacher: HiFiGAN, pruned: HiFiGAN) -> dict[str, torch.Tensor]:
    """The teacher's weights cut to `pruned`'s widths at the channels it kept (its first convs' rows are the
    teacher's own), with no refit."""
    state, theirs = pruned.state_dict(), teacher.state_dict()
    out = {k: v.clone() for k, v in theirs.items() if ".convs" not in k}
    for name, rows in state.items():
        if ".convs1." in name and name.endswith(".weight"):
            full = theirs[name]
            kept = torch.tensor([int(torch.argmin((full - row).abs().flatten(1).sum(1))) for row in rows])
            plain = name.replace(".convs1.", ".convs2.")
            out[name], out[name[:-6] + "bias"] = full[kept], theirs[name[:-6] + "bias"][kept]
            out[plain], out[plain[:-6] + "bias"] = theirs[plain][:, kept], theirs[plain[:-6] + "bias"]
    return out


def test_keeping_every_channel_refits_the_teachers_own_convs():
    """At full width the least-squares refit has the teacher's weights as its exact solution."""
    torch.manual_seed(0)
    teacher = HiFiGAN(SMALL).eval()
    mels = [real_generator_mel(1.5)]
    same = prune(teacher, mels, keep=(1.0,) * 4, ridge=1e-9, positions=20000, seed=0)
    assert same.cfg.resblock_inner == ((32, 32), (32, 32), (16, 16), (16, 16), (8, 8), (8, 8), (4, 4), (4, 4))
    for name, tensor in teacher.state_dict().items():
        assert torch.allclose(same.state_dict()[name], tensor, atol=5e-3), name   # float32 activations
    with torch.inference_mode():
        want, got = teacher(mels[0]), same(mels[0])
    assert float((got - want).norm() / want.norm()) < 1e-3


def test_a_pruned_v1_loads_from_its_file_and_beats_dropping_channels(tmp_path):
    """keep 0.5 on V1 universal, fitted on two voices: the saved file loads strictly at its narrowed widths, and on
    a third speaker's real clip the refitted generator is nearer the teacher's audio than the same channels dropped without a refit."""
    teacher = load_hifigan(weights_path("universal"))
    fit = [real_generator_mel(5.0, DATA / name) for name in ("ref_slt.wav", "ref_awb.wav")]   # 16 kHz
    probe = real_generator_mel(2.0)    # another speaker, LibriSpeech
    pruned = prune(teacher, fit, keep=(0.5,) * 4, ridge=1e-2, positions=4000, seed=0)
    path = tmp_path / "pruned.pt"
    write_checkpoint(path, pruned, pruned.cfg, half=True)
    loaded = load_hifigan(path)
    assert loaded.cfg.resblock_inner[0] == (128, 128, 128) and loaded.cfg.resblock_inner[-1] == (16, 16, 16)
    assert sum(p.numel() for p in loaded.parameters()) < 0.65 * sum(p.numel() for p in teacher.parameters())
    dropped_state = cut_like(teacher, pruned)   # the same kept channels, their second convs only cut
    dropped = HiFiGAN(loaded.cfg).eval()
    dropped.load_state_dict(dropped_state, strict=True)
    with torch.inference_mode():
        want = teacher(probe).reshape(-1).numpy()
        got = {"refit": loaded(probe).reshape(-1).numpy(), "dropped": dropped(probe).reshape(-1).numpy()}
    distance = {k: np.abs(mel_adapter.hifigan_mel(v, 22050) - mel_adapter.hifigan_mel(want, 22050)).mean()
                for k, v in got.items()}
    assert distance["refit"] < 0.8 * distance["dropped"], distance
    # served as the vocoder serves our generator files (HIFIGAN_VOICE=lite HIFIGAN_LITE_WEIGHTS=...), through
    # the default engine's ONNX export of the narrowed graph
    served = load_hifigan_vocoder("lite", lite_weights=str(path), cache_dir=str(tmp_path), mel_sharpen=1.0)
    assert served.model.cfg == loaded.cfg
    np.testing.assert_allclose(served.generate(probe[0].numpy()), got["refit"], atol=1e-4)
