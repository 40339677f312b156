"""HIFIGAN_PRECISION=int8 (vocoder_svc.hifigan_int8): which convs it quantizes, its shipped activation ranges,
and what its graph renders from a real recording against fp32's, on both graph engines."""
import numpy as np
import onnx
import pytest
import soundfile as sf

from common import audio
from tests.conftest import DATA
from vocoder_svc import hifigan_int8, mel_adapter
from vocoder_svc.hifigan_runtime import PRECISION, VOICES, load_hifigan_vocoder, onnx_graph

REAL_CLIP = DATA / "librispeech_19-198-0000.flac"
# int8 (stage 2) against fp32, mean abs difference of the two outputs' generator log mels: measured 0.070 nats
# on this clip with both engines (stages 1-3: 0.166 on 8 held-out clips of our synthesizer's mels). int8 kernels
# differ between CPUs (VNNI or not), hence a bound.
INT8_DISTANCE_BOUND = 0.2


def log_mel_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(mel_adapter.hifigan_mel(a, 22050) - mel_adapter.hifigan_mel(b, 22050)).mean())


def assert_same_int8_audio(a: np.ndarray, b: np.ndarray) -> None:
    """Two int8 renderings of one mel, made another way (in chunks, with other threads): not to fp32's 1e-4, since
    a context frame's float noise can move an activation across a quantization step."""
    assert np.sqrt(np.mean((a - b) ** 2)) < 2e-3
    assert log_mel_distance(a, b) < 0.01


@pytest.fixture(scope="module")
def real_mel():
    wav, _ = sf.read(REAL_CLIP, dtype="float32")
    return audio.melspectrogram(wav)[:, :300]


@pytest.fixture(scope="module")
def fp32():
    return load_hifigan_vocoder("universal", chunk_frames=0, precision="fp32")


def block(name: str) -> int:
    return int(name.split("/resblocks.")[1].split("/")[0])


def test_only_stage_twos_resblock_convs_are_chosen(fp32, tmp_path):
    graph = onnx.load(str(onnx_graph(fp32.model, fp32.sha256, str(tmp_path))))
    chosen = hifigan_int8.block_convs(graph, 3, hifigan_int8.INT8_BLOCKS)
    # V1: 3 resblocks a stage (kernels 3, 7, 11), 3 steps of 2 convs each; stage 2's are resblocks 3-5
    assert len(chosen) == 3 * 3 * 2 and {block(n) for n in chosen} == {3, 4, 5}
    assert not any(n.startswith(("/conv_pre", "/conv_post", "/ups")) for n in chosen)
    # a generator with one branch a stage (lite) gets its stage-2 resblock; a branch it lacks is skipped
    assert {block(n) for n in hifigan_int8.block_convs(graph, 1, ((2, 0), (3, 2)))} == {1}


def test_the_default_generator_finds_its_shipped_ranges(fp32, tmp_path):
    """Else every fresh machine measures them at start-up (minutes): rerun training.hifigan_int8_calibration
    --ranges-only after changing the calibration mels, the post-filter, the blocks or torch."""
    export = onnx_graph(fp32.model, fp32.sha256, str(tmp_path))
    key = hifigan_int8.ranges_key(export, fp32.mel_sharpen, hifigan_int8.INT8_BLOCKS)
    assert (hifigan_int8.RANGES_DIR / hifigan_int8.ranges_name(key)).is_file()
    assert set(PRECISION) == set(VOICES)                # every generator has its default precision


@pytest.mark.parametrize("engine", ["openvino", "onnxruntime"])
def test_int8_renders_a_real_clip_close_to_fp32(engine, real_mel, fp32, tmp_path):
    int8 = load_hifigan_vocoder("universal", engine=engine, chunk_frames=0, cache_dir=str(tmp_path), precision="int8")
    assert int8.info()["precision"] == "int8" and int8.info()["int8_blocks"] == [[2, 0], [2, 1], [2, 2]]
    expected, got = fp32.vocode(real_mel), int8.vocode(real_mel)
    assert got.shape == expected.shape
    assert not np.array_equal(got, expected)            # int8 ran
    assert log_mel_distance(got, expected) < INT8_DISTANCE_BOUND
    assert np.corrcoef(got, expected)[0, 1] > 0.9


def test_int8_chunks_join_as_the_whole_mel(real_mel):
    """Measured at 64-frame chunks: RMS 6.8e-4 (int8 vs fp32: 0.012), log-mel distance 0.0014 nats (0.070)."""
    whole = load_hifigan_vocoder("universal", chunk_frames=0, precision="int8").vocode(real_mel)
    chunked = load_hifigan_vocoder("universal", chunk_frames=64, precision="int8").vocode(real_mel)
    assert_same_int8_audio(chunked, whole)


def test_a_generator_without_shipped_ranges_measures_its_own(real_mel, tmp_path, monkeypatch):
    # on 8 of the shipped calibration mels (all 128 take lite a few minutes)
    few = tmp_path / "calibration.npz"
    with np.load(hifigan_int8.CALIBRATION_MELS) as shipped:
        np.savez(few, **{k: shipped[k] for k in sorted(shipped.files)[::16]})
    monkeypatch.setattr(hifigan_int8, "CALIBRATION_MELS", few)
    lite_fp32 = load_hifigan_vocoder("lite", chunk_frames=0, cache_dir=str(tmp_path))
    assert lite_fp32.info()["precision"] == "fp32"      # lite's default
    lite = load_hifigan_vocoder("lite", chunk_frames=0, cache_dir=str(tmp_path), precision="int8")
    assert list(tmp_path.rglob(hifigan_int8.ranges_name("*")))
    # lite has a third of V1's convs at the same widths, so each carries more: measured 0.091 nats here on all
    # 128 mels (stages 1-3: 0.352)
    assert log_mel_distance(lite.vocode(real_mel), lite_fp32.vocode(real_mel)) < 0.3


def test_int8_needs_a_graph_engine_and_a_known_precision():
    with pytest.raises(ValueError, match="int8 runs on"):
        load_hifigan_vocoder("universal", engine="torch", precision="int8")
    with pytest.raises(ValueError, match="precision must be one of"):
        load_hifigan_vocoder("universal", precision="int4")
    assert load_hifigan_vocoder("universal", engine="torch").info()["precision"] == "fp32"
    assert load_hifigan_vocoder("universal").info()["precision"] == "int8"   # universal's default, on OpenVINO
