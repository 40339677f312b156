"""Our model code loads RTVC-format checkpoints and reproduces RTVC's recorded outputs."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common import audio
from common.checkpoints import read_checkpoint, write_checkpoint
from encoder_svc.inference import embed_frames, embed_utterance, load_encoder
from encoder_svc.model import EncoderConfig, SpeakerEncoder
from synthesizer_svc.inference import load_synthesizer, synthesize
from synthesizer_svc.model import Tacotron, TacotronConfig
from vocoder_svc.inference import load_vocoder
from vocoder_svc.model import WaveRNN, WaveRNNConfig, classes_to_wave, fold_with_overlap, xfade_and_unfold

TOL = {"atol": 1e-4, "rtol": 1e-4}


def manifest_rows(model):
    return [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in model.state_dict().items()]


@pytest.mark.parametrize("name,model", [("encoder", SpeakerEncoder), ("synthesizer", Tacotron), ("vocoder", WaveRNN)])
def test_full_size_state_dict_matches_manifest(fixtures, name, model):
    manifest = json.loads((fixtures / f"{name}_state_dict.json").read_text())
    assert manifest_rows(model()) == manifest["state_dict"]


# ---- encoder ----

@pytest.fixture(scope="module")
def enc(fixtures):
    return load_encoder(str(fixtures / "enc_small_checkpoint.pt")), np.load(fixtures / "enc_small_golden.npz")


def test_encoder_small_internals(enc):
    model, g = enc
    frames = torch.from_numpy(g["embed_utterance_3s_frames_batch"])
    with torch.no_grad():
        np.testing.assert_allclose(model.last_hidden(frames).numpy(), g["model_last_hidden"], **TOL)
        np.testing.assert_allclose(model.raw_embeddings(frames).numpy(), g["model_embeds_raw"], **TOL)
    np.testing.assert_allclose(embed_frames(model, g["embed_utterance_3s_frames_batch"]), g["embed_frames_batch_direct"], **TOL)


def test_encoder_small_embed_utterance(enc):
    from common.speaker_audio import preprocess_wav
    model, g = enc
    e = embed_utterance(model, g["wav_3s"])
    np.testing.assert_allclose(e.embedding, g["embed_utterance_3s"], **TOL)
    np.testing.assert_allclose(e.partials, g["embed_utterance_3s_partials"], **TOL)
    np.testing.assert_array_equal(np.array(e.wav_slices), g["embed_utterance_3s_wave_slices"])
    np.testing.assert_allclose(embed_utterance(model, g["wav_3s"], using_partials=False).embedding,
                               g["embed_utterance_3s_no_partials"], **TOL)
    pre = preprocess_wav(g["wav_3s"])
    np.testing.assert_array_equal(pre, g["preprocessed_3s"])
    np.testing.assert_allclose(embed_utterance(model, pre).embedding, g["embed_utterance_preprocessed_3s"], **TOL)


def test_default_encoder_weights_load_and_embed_unit_norm():
    model = load_encoder()
    assert model.cfg == EncoderConfig()
    rng = np.random.RandomState(0)
    e = embed_utterance(model, (0.1 * rng.randn(32000)).astype(np.float32)).embedding
    assert e.shape == (256,) and abs(np.linalg.norm(e) - 1) < 1e-5


# ---- synthesizer ----

@pytest.fixture(scope="module")
def syn(fixtures):
    g = np.load(fixtures / "synth_small_golden.npz")
    hp = json.loads((fixtures / "synth_small_hparams.json").read_text())["constructor_kwargs"]
    state, _ = read_checkpoint(fixtures / "synth_small_checkpoint.pt")
    models = {}
    for p in (0.0, 0.5):
        m = Tacotron(TacotronConfig(**{**hp, "dropout": p}))
        m.load_state_dict(state, strict=True)
        models[p] = m.eval()
    return models, g


def test_synth_buffers_from_checkpoint(syn):
    models, g = syn
    assert models[0.0].r == int(g["ckpt_r_buffer"]) == 2
    assert int(models[0.0].step) == int(g["ckpt_step_buffer"][0])


def test_synth_encoder_p0(syn):
    models, g = syn
    m = models[0.0]
    chars, emb = torch.from_numpy(g["chars"]), torch.from_numpy(g["speaker_embeddings"])
    with torch.no_grad():
        seq = m.encoder(chars, emb)
        np.testing.assert_allclose(seq.numpy(), g["p0_encoder_seq"], **TOL)
        np.testing.assert_allclose(m.encoder_proj(seq).numpy(), g["p0_encoder_seq_proj"], **TOL)


def _check_forward(m, g, prefix):
    chars, emb = torch.from_numpy(g["chars"]), torch.from_numpy(g["speaker_embeddings"])
    with torch.no_grad():
        mel, post, attn, stop = m(chars, torch.from_numpy(g["tf_mels"]), emb)
    np.testing.assert_allclose(mel.numpy(), g[f"{prefix}_fwd_mel_outputs"], **TOL)
    np.testing.assert_allclose(post.numpy(), g[f"{prefix}_fwd_postnet_outputs"], **TOL)
    np.testing.assert_allclose(attn.numpy(), g[f"{prefix}_fwd_attention"], **TOL)
    np.testing.assert_allclose(stop.T.numpy(), g[f"{prefix}_fwd_stop_logits"], **TOL)
    tokens = torch.sigmoid(stop).repeat_interleave(m.r, dim=1)
    np.testing.assert_allclose(tokens.numpy(), g[f"{prefix}_fwd_stop_tokens"], **TOL)


def _masks(g, run):
    enc, dec = g[f"p5_{run}_dropout_keep_encoder"], g[f"p5_{run}_dropout_keep_decoder"]
    yield from (torch.from_numpy(enc[i]) for i in range(2))
    for step in dec:
        yield from (torch.from_numpy(step[i]) for i in range(2))


def test_synth_forward_p0(syn):
    _check_forward(syn[0][0.0], syn[1], "p0")


def test_synth_forward_p5_with_recorded_dropout(syn):
    models, g = syn
    models[0.5].set_dropout_replay(_masks(g, "fwd"))
    try:
        _check_forward(models[0.5], g, "p5")
    finally:
        models[0.5].set_dropout_replay(None)


def _check_generate(m, g, prefix, chars, steps):
    with torch.no_grad():
        mel, post, attn, stop = m.generate(torch.from_numpy(chars), torch.from_numpy(g["speaker_embeddings"][:len(chars)]), steps=steps)
    np.testing.assert_allclose(mel.numpy(), g[f"{prefix}_mel_outputs"], **TOL)
    np.testing.assert_allclose(post.numpy(), g[f"{prefix}_postnet_outputs"], **TOL)
    np.testing.assert_allclose(attn.numpy(), g[f"{prefix}_attention"], **TOL)
    if f"{prefix}_stop_logits" in g:
        np.testing.assert_allclose(stop.T.numpy(), g[f"{prefix}_stop_logits"], **TOL)


def test_synth_generate_p0(syn):
    models, g = syn
    _check_generate(models[0.0], g, "p0_gen", g["chars"], 80)
    _check_generate(models[0.0], g, "p0_gen_single0", g["p0_gen_single0_chars"], 80)


def test_synth_generate_p5_stops_by_itself(syn):
    models, g = syn
    models[0.5].set_dropout_replay(_masks(g, "gen"))
    try:
        _check_generate(models[0.5], g, "p5_gen", g["chars"], 2000)
    finally:
        models[0.5].set_dropout_replay(None)


def test_synthesize_spectrograms_p5(syn):
    models, g = syn
    models[0.5].set_dropout_replay(_masks(g, "gen"))
    try:
        out = synthesize(models[0.5], [str(t) for t in g["texts"]], g["speaker_embeddings"], cut_at_stop=False,
                         rtvc_padding=True)
    finally:
        models[0.5].set_dropout_replay(None)
    for i in range(2):
        np.testing.assert_allclose(out.mels[i], g[f"p5_synthesize_spectrograms_{i}"], **TOL)
        assert out.stopped[i]
        n_in = int(g["seq_lengths"][i])
        np.testing.assert_allclose(out.alignments[i], g["p5_synthesize_spectrograms_alignments"][i, :, :n_in], **TOL)


def test_synthesize_cuts_each_item_at_its_own_stop(syn):
    models, g = syn
    models[0.5].set_dropout_replay(_masks(g, "gen"))
    try:
        out = synthesize(models[0.5], [str(t) for t in g["texts"]], g["speaker_embeddings"], rtvc_padding=True)
    finally:
        models[0.5].set_dropout_replay(None)
    for i in range(2):
        full = g[f"p5_synthesize_spectrograms_{i}"]
        assert out.stopped[i] and 10 < out.mels[i].shape[1] <= full.shape[1]
        np.testing.assert_allclose(out.mels[i], full[:, :out.mels[i].shape[1]], **TOL)


def test_synthesize_gives_each_item_what_it_gets_alone(syn):
    """By default an item's frames don't depend on its batch-mates; with RTVC's padding the shorter one's do."""
    models, g = syn
    texts, emb = [str(t) for t in g["texts"]], g["speaker_embeddings"]
    assert len(set(map(len, texts))) == 2
    together = synthesize(models[0.0], texts, emb, max_frames=80)
    leaky = synthesize(models[0.0], texts, emb, max_frames=80, rtvc_padding=True)
    shorter = int(np.argmin(list(map(len, texts))))
    for i in range(2):
        alone = synthesize(models[0.0], texts[i:i + 1], emb[i:i + 1], max_frames=80)
        np.testing.assert_allclose(together.mels[i], alone.mels[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(together.alignments[i], alone.alignments[0], rtol=1e-4, atol=1e-5)
    n = min(leaky.mels[shorter].shape[1], together.mels[shorter].shape[1])
    assert np.abs(leaky.mels[shorter][:, :n] - together.mels[shorter][:, :n]).max() > 1e-3


def test_synth_checkpoint_with_hparams_roundtrip(tmp_path, syn):
    models, _ = syn
    path = tmp_path / "small.pt"
    write_checkpoint(path, models[0.5], models[0.5].cfg, half=True)
    loaded = load_synthesizer(str(path))
    assert loaded.cfg == models[0.5].cfg and loaded.r == 2


def test_batching_contract_trimming(fixtures):
    """RTVC's trailing-frame trim, following the contract's stub recipe; float32(-3.4) is trimmed (numpy 1.26)."""
    from synthesizer_svc.inference import trim_silent_tail
    contract = json.loads((fixtures / "synth_batching_contract.json").read_text())
    lengths = []
    for i in range(len(contract["texts"])):
        mel = np.full((80, contract["stub_frames"]), 0.1 * (i + 1), dtype=np.float32)
        kind = i % 5
        if kind == 1:
            mel[:, -3:] = -3.9
        elif kind == 2:
            mel[:, -2:] = -3.9
            mel[:, 5] = -4.0
        elif kind == 3:
            mel[:, -1] = np.float32(-3.4)
        elif kind == 4:
            mel[:, -1] = -4.0
            mel[17, -1] = -3.3
        lengths.append(trim_silent_tail(mel).shape[1])
    assert lengths == contract["returned_lengths"]


def test_batching_pads_each_batch_to_its_own_longest(fixtures):
    from common.text import text_to_sequence
    from synthesizer_svc.inference import BATCH_SIZE, pad_sequences
    contract = json.loads((fixtures / "synth_batching_contract.json").read_text())
    assert BATCH_SIZE == contract["synthesis_batch_size"]
    seqs = [text_to_sequence(t.strip()) for t in contract["texts"]]
    for n, call in enumerate(contract["calls"]):
        batch = pad_sequences(seqs[n * BATCH_SIZE:(n + 1) * BATCH_SIZE])
        assert batch.tolist() == call["chars"]


# ---- vocoder ----

@pytest.fixture(scope="module")
def voc(fixtures):
    hp = json.loads((fixtures / "voc_small_hparams.json").read_text())["constructor_kwargs"]
    return (load_vocoder(str(fixtures / "voc_small_checkpoint.pt"), hp), np.load(fixtures / "voc_small_golden.npz"),
            np.load(fixtures / "voc_small_sampling_torch2.npz"))


def test_vocoder_forward_and_upsample(voc):
    m, g, _ = voc
    with torch.no_grad():
        mels, aux = m.upsample(torch.from_numpy(g["fwd_mels"]))
        np.testing.assert_allclose(mels.numpy(), g["fwd_upsample_mels"], **TOL)
        np.testing.assert_allclose(aux.numpy(), g["fwd_upsample_aux"], **TOL)
        logits = m(torch.from_numpy(g["fwd_x"]), torch.from_numpy(g["fwd_mels"]))
    np.testing.assert_allclose(logits.numpy(), g["fwd_logits"], **TOL)
    ce = F.cross_entropy(logits.transpose(1, 2), torch.from_numpy(g["fwd_labels"][:, 1:]))
    np.testing.assert_allclose(ce.item(), float(g["fwd_cross_entropy"]), **TOL)


def test_fold_and_xfade(voc):
    _, g, _ = voc
    x = torch.arange(12800, dtype=torch.float32).reshape(1, 6400, 2)
    np.testing.assert_array_equal(fold_with_overlap(x, 1000, 100)[:, :, 0].numpy(), g["fold_output"])
    np.testing.assert_array_equal(fold_with_overlap(x, 8000, 800)[:, :, 0].numpy(), g["fold_output_default_8000_800"])
    np.testing.assert_array_equal(xfade_and_unfold(g["xfade_input"], 100), g["xfade_output"])


RUNS = {"gen_unbatched": (False, 1000, 100, "mel_normalized"), "gen_batched": (True, 1000, 100, "mel_normalized"),
        "infer_default": (True, 8000, 800, "mel_synth_range")}


@pytest.mark.parametrize("run", list(RUNS))
def test_vocoder_postprocessing_from_recorded_classes(voc, run):
    m, g, t2 = voc
    batched, target, overlap, _ = RUNS[run]
    for rec in (g, t2):
        wav = classes_to_wave(rec[f"{run}_sampled_classes"].astype(np.int64), m.cfg, 6200, target, overlap, batched)
        np.testing.assert_allclose(wav, rec[f"{run}_wav"], atol=1e-9)


@pytest.mark.parametrize("run", list(RUNS))
def test_vocoder_generate_reproduces_torch2_sampling(voc, run):
    m, g, t2 = voc
    batched, target, overlap, mel_key = RUNS[run]
    mel = torch.from_numpy(g[mel_key][None])
    if mel_key == "mel_synth_range":
        mel = mel / audio.HP.max_abs_value
    first = []
    torch.manual_seed(int(t2[f"{run}_seed"]))
    wav = m.generate(mel, batched=batched, target=target, overlap=overlap,
                     on_logits=lambda i, lg: first.append(lg.numpy().copy()) if i < 16 else None)
    np.testing.assert_allclose(np.stack(first), t2[f"{run}_first_logits"], **TOL)
    np.testing.assert_allclose(np.stack(first)[0], g[f"{run}_first_logits"][0], **TOL)
    np.testing.assert_allclose(wav, t2[f"{run}_wav"], atol=1e-6)


def test_vocoder_replay_of_recorded_classes_gives_recorded_logprob(voc):
    """Teacher-forced replay of torch-1.10 classes reproduces their log-probabilities (RNG-independent check)."""
    m, g, _ = voc
    classes = torch.from_numpy(g["gen_unbatched_sampled_classes"][0].astype(np.int64))
    x = torch.cat([torch.zeros(1), 2 * classes[:-1].float() / 511 - 1])[None]
    mel = F.pad(torch.from_numpy(g["mel_normalized"][None]), (2, 2))
    with torch.no_grad():
        logp = F.log_softmax(m(x, mel), dim=-1)[0].gather(1, classes[:, None])[:, 0]
    np.testing.assert_allclose(logp.numpy(), g["gen_unbatched_sampled_logprob"][0], atol=1e-4)


@pytest.mark.parametrize("run", list(RUNS))
def test_fast_sampler_reproduces_torch2_sampling(voc, run):
    from vocoder_svc.fast_sampling import sample_classes_fast
    m, g, t2 = voc
    batched, target, overlap, mel_key = RUNS[run]
    mel = torch.from_numpy(g[mel_key][None])
    if mel_key == "mel_synth_range":
        mel = mel / audio.HP.max_abs_value
    torch.manual_seed(int(t2[f"{run}_seed"]))
    wav = m.generate(mel, batched=batched, target=target, overlap=overlap, sampler=sample_classes_fast)
    np.testing.assert_allclose(wav, t2[f"{run}_wav"], atol=1e-6)


def test_fast_sampler_follows_the_same_greedy_path():
    from vocoder_svc.fast_sampling import sample_classes_fast
    torch.manual_seed(0)
    model = WaveRNN(WaveRNNConfig(rnn_dims=64, fc_dims=64, compute_dims=32, res_out_dims=32, res_blocks=2)).eval()
    mels, aux = model.conditioning(torch.randn(1, 80, 12) * 0.5)
    mels, aux = fold_with_overlap(mels, 600, 60), fold_with_overlap(aux, 600, 60)
    reference = model.sample_classes(mels, aux, greedy=True)
    assert torch.equal(sample_classes_fast(model, mels, aux, greedy=True), reference)
