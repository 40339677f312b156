"""A synthesis request as turns of a few sentences each, so that a long request cannot starve short ones.

The model thread runs one call at a time. Sent whole, 3 x 2000 characters (33 sentences) held it for 94 s
and a "Hello." behind them waited just as long (issue 27). Here a request's sentences go to the model
`sentences_per_turn` at a time, and its next turn is queued only when the last one is done: a request that
arrived meanwhile is served first (or joins the turn's batch), so it waits at most one turn. Every turn
checks the request's WorkToken, and so does every decoder step, so a request whose client went away or
whose deadline passed stops within one step.

Below speaker emphasis 1 each sentence's mel gets its voice's spectrum back (synthesizer_svc.spectrum_restore):
the voice's difference is measured on the model thread before the request's first turn, once per voice.
"""
import time

import numpy as np
import torch

from common.accents import AUTO
from common.batching import MicroBatcher
from common.cancel import WorkToken, check_all
from common.metrics import STAGE_LATENCY
from common.service import run_model
from common.text import speakable_sentences
from synthesizer_svc.inference import BATCH_SIZE, SynthResult, join_sentences, plan_sentences, synthesize
from synthesizer_svc.model import Tacotron
from synthesizer_svc.runtime import SynthesizerRuntime
from synthesizer_svc.spectrum_restore import ShiftCache, calibrate, restore


def attach_batcher(runtime: SynthesizerRuntime) -> SynthesizerRuntime:
    """Created on the event loop (the batcher's queue belongs to it). One call holds at most one synthesis
    batch (BATCH_SIZE sentences), so a request that joins it or waits behind it waits for one batch.
    Its key is (accent, max_frames): turns share a call only when one model, with one frame cap, runs them all."""
    settings = runtime.settings
    runtime.batcher = MicroBatcher("synthesizer", lambda key, items: run_batch(runtime, key, items),
                                   settings.micro_batch_items, settings.micro_batch_window_ms / 1000,
                                   run_in=run_model, weight=lambda item: len(item[0]), max_weight=BATCH_SIZE)
    return runtime


def run_turn(runtime: SynthesizerRuntime, model: Tacotron, sentences: list[str], embeddings: np.ndarray,
             max_frames: int | None, check=None, rng_state: torch.Tensor | None = None):
    """One model call -> (SynthResult, the RNG state after it). Always on the one model thread (run_model):
    a seeded request's own stream of pre-net dropout noise (RTVC keeps dropout on at inference) is put in
    place for its turn and taken back after, so requests served in between never draw from it."""
    settings = runtime.settings
    if rng_state is not None:
        torch.set_rng_state(rng_state)
    start = time.perf_counter()
    cap = settings.max_frames_per_sentence
    out = synthesize(model, sentences, embeddings, max_frames=min(max_frames or cap, cap), check=check)
    STAGE_LATENCY.labels("synthesizer", "tacotron").observe(time.perf_counter() - start)
    return out, (torch.get_rng_state() if rng_state is not None else None)


def run_batch(runtime: SynthesizerRuntime, key: tuple[str, int | None], items: list) -> list[SynthResult]:
    """Turns of several unseeded requests as one model call (RTVC batches a request's sentences the same way)."""
    accent, max_frames = key
    sentences = [s for turn, _, _ in items for s in turn]
    out, _ = run_turn(runtime, runtime.model_for(accent), sentences, np.concatenate([emb for _, emb, _ in items]), max_frames,
                      check_all(token for _, _, token in items))
    results, k = [], 0
    for turn, _, _ in items:
        n = len(turn)
        results.append(SynthResult(out.mels[k:k + n], out.alignments[k:k + n], out.stopped[k:k + n]))
        k += n
    return results


def measure_shift(runtime: SynthesizerRuntime, model: Tacotron, given: np.ndarray, emphasized: np.ndarray,
                  check=None) -> np.ndarray:
    """On the model thread: one voice's spectrum difference (spectrum_restore.calibrate)."""
    start = time.perf_counter()
    shift = calibrate(model, given, emphasized, max_frames=runtime.settings.max_frames_per_sentence, check=check)
    STAGE_LATENCY.labels("synthesizer", "spectrum_calibration").observe(time.perf_counter() - start)
    return shift


async def voice_shifts(runtime: SynthesizerRuntime, model: Tacotron, given: np.ndarray, emphasized: np.ndarray,
                       factor: float, accent: str, token: WorkToken) -> list[np.ndarray]:
    """One difference per text's voice, from the cache or measured (a voice given for several texts once)."""
    found, keys = {}, [ShiftCache.key(accent, factor, row) for row in given]
    for key, row, emb in zip(keys, given, emphasized):
        if key in found:
            continue
        shift = runtime.shifts.get(key)
        if shift is None:
            token.check()
            shift = await run_model(measure_shift, runtime, model, row, emb, token.check)
            runtime.shifts.put(key, shift)
        found[key] = shift
    return [found[key] for key in keys]


async def synthesize_request(runtime: SynthesizerRuntime, texts: list[str], embeddings: np.ndarray, token: WorkToken,
                             seed: int | None = None, max_frames: int | None = None, accent: str = AUTO,
                             factor: float = 1.0):
    """-> one TextMel per text, spoken by `accent`'s model, `embeddings` (one per text, as given) moved by the
    speaker-emphasis `factor` (runtime.factor_for). Seeded requests run alone (reproducible); others may share
    each turn's batch with concurrent requests of the same accent."""
    settings, model = runtime.settings, runtime.model_for(accent)
    plan = plan_sentences(texts, lambda t: speakable_sentences(t, settings.sentence_chars))
    emphasized = runtime.emphasize(embeddings, factor)
    weight = runtime.restore_weight_for(factor, accent)
    shifts = await voice_shifts(runtime, model, embeddings, emphasized, factor, accent, token) if weight else None
    flat = [s for sentences in plan for s in sentences]
    flat_emb = np.concatenate([np.repeat(emphasized[i:i + 1], len(s), axis=0) for i, s in enumerate(plan)])
    rng_state = torch.Generator().manual_seed(seed).get_state() if seed is not None else None
    batched = seed is None and settings.micro_batch_items > 1
    done = SynthResult([], [], [])
    for start in range(0, len(flat), settings.sentences_per_turn):
        token.check()
        turn = slice(start, start + settings.sentences_per_turn)
        if batched:
            out = await runtime.batcher.submit((accent, max_frames), (flat[turn], flat_emb[turn], token), token)
        else:
            out, rng_state = await run_model(run_turn, runtime, model, flat[turn], flat_emb[turn], max_frames,
                                             token.check, rng_state)
        done.mels += out.mels
        done.alignments += out.alignments
        done.stopped += out.stopped
    if shifts is not None:
        text_of = [i for i, sentences in enumerate(plan) for _ in sentences]
        done.mels = [restore(mel, shifts[text_of[k]], weight) for k, mel in enumerate(done.mels)]
    return join_sentences(plan, done, model.cfg.n_mels)
