"""Vocoder service over real HTTP: Griffin-Lim with no weights, WaveRNN through VOCODER_CHECKPOINT."""
import io
import json

import httpx
import numpy as np
import pytest
import soundfile as sf

from common import audio
from tests.conftest import DATA


@pytest.fixture(scope="module")
def mel():
    wav, _ = sf.read(DATA / "ref_slt.wav", dtype="float32")
    return audio.melspectrogram(wav).astype(np.float32)


def test_griffinlim_json_and_wav(urls, mel):
    body = {"mel": mel.tolist(), "backend": "griffinlim"}
    r = httpx.post(urls["vocoder"] + "/v1/vocode", json=body, timeout=120)
    assert r.status_code == 200, r.text
    wav = np.array(r.json()["wav"])
    assert r.json()["sample_rate"] == 16000 and abs(len(wav) - (mel.shape[1] - 1) * 200) <= 200
    # the re-analysed mel of the output resembles the input mel
    back = audio.melspectrogram(wav)[:, : mel.shape[1]]
    assert np.corrcoef(back.ravel(), mel[:, : back.shape[1]].ravel())[0, 1] > 0.9
    r = httpx.post(urls["vocoder"] + "/v1/vocode", json=body, headers={"accept": "audio/wav"}, timeout=120)
    assert r.headers["content-type"] == "audio/wav"
    data, sr = sf.read(io.BytesIO(r.content))
    assert sr == 16000 and len(data) == len(wav)


def test_seed_inference(urls, mel):
    r = httpx.post(urls["vocoder"] + "/inference", json={"spec": mel[:, :40].tolist()}, timeout=120)
    assert r.status_code == 200 and r.json()["sr"] == 16000 and len(r.json()["wav"]) == 39 * 200


BAD = [
    ({"mel": [[0.0] * 10] * 79}, 422, "(80, T)"),
    ({"mel": [[0.0] * 80] * 30}, 422, "transpose"),
    ({"mel": [0.0] * 80}, 422, "2-D"),
    ({"mel": [[0.0]] * 80}, 422, "at least 2"),
    ({"mel": [[0.0] * 30000] * 80}, 413, None),
    ({"backend": "magic"}, 422, "backend"),
    ({"sample_rate": 22050}, 422, "16000"),
]


@pytest.mark.parametrize("patch,status,needle", BAD)
def test_bad_input(urls, mel, patch, status, needle):
    body = {"mel": mel[:, :20].tolist(), "backend": "griffinlim", **patch}
    r = httpx.post(urls["vocoder"] + "/v1/vocode", content=json.dumps(body),
                   headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == status, r.text[:300]
    if needle:
        assert needle in r.json()["error"]["message"]


@pytest.fixture(scope="module")
def wavernn_url(tmp_path_factory, fixtures):
    """A vocoder process whose VOCODER_CHECKPOINT points at the small RTVC fixture (re-saved with its hparams)."""
    from common.checkpoints import write_checkpoint
    from tests.processes import service
    from vocoder_svc.inference import load_vocoder
    hp = json.loads((fixtures / "voc_small_hparams.json").read_text())["constructor_kwargs"]
    model = load_vocoder(str(fixtures / "voc_small_checkpoint.pt"), hp)
    path = tmp_path_factory.mktemp("voc") / "small.pt"
    write_checkpoint(path, model, model.cfg)
    svc = service("vocoder", VOCODER_CHECKPOINT=str(path), WAVERNN_TARGET="1000", WAVERNN_OVERLAP="100")
    svc.start().wait_ready()
    yield svc.url, model
    svc.stop()


def test_wavernn_backend_matches_library_call(wavernn_url, mel):
    import torch

    from vocoder_svc.inference import vocode_wavernn
    url, model = wavernn_url
    info = httpx.get(url + "/v1/info").json()
    assert info["default_backend"] == "wavernn" and info["hparams"]["rnn_dims"] == 32
    r = httpx.post(url + "/v1/vocode", json={"mel": mel[:, :30].tolist(), "seed": 5}, timeout=300)
    assert r.status_code == 200 and r.json()["backend"] == "wavernn"
    torch.manual_seed(5)
    expected = vocode_wavernn(model, mel[:, :30], target=1000, overlap=100)
    np.testing.assert_allclose(r.json()["wav"], expected, atol=1e-5)


def test_wavernn_without_weights_is_a_clear_503(urls, mel):
    if httpx.get(urls["vocoder"] + "/v1/info").json()["backends"] != ["griffinlim"]:
        pytest.skip("default vocoder ships WaveRNN weights")
    r = httpx.post(urls["vocoder"] + "/v1/vocode", json={"mel": mel[:, :20].tolist(), "backend": "wavernn"})
    assert r.status_code == 503 and "VOCODER_CHECKPOINT" in r.json()["error"]["message"]


def test_concurrent_wavernn_requests_share_one_sampling_loop(wavernn_url, mel):
    from concurrent.futures import ThreadPoolExecutor

    from tests.metrics_util import sample
    url, _ = wavernn_url
    lengths = [12, 20, 31, 45, 25, 16]
    before = sample(url, "voxclone_batch_items_count", service="vocoder")
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda n: httpx.post(url + "/v1/vocode", json={"mel": mel[:, :n].tolist(),
                                                                                 "seed": None}, timeout=300), lengths))
    assert [r.status_code for r in responses] == [200] * 6
    assert [len(r.json()["wav"]) for r in responses] == [(n - 1) * 200 for n in lengths]
    assert all(np.abs(r.json()["wav"]).max() > 0 for r in responses)
    assert sample(url, "voxclone_batch_items_count", service="vocoder") - before < 6
    assert sample(url, "voxclone_batch_items_sum", service="vocoder") == 6
