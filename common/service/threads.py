"""Where blocking work runs, so the event loop keeps answering (health checks, other requests)."""
import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

# Every torch call of a service runs on this one thread. PyTorch's CPU thread pool belongs to the thread that
# starts parallel work: a second thread calling into torch brings up its own pool, and the pools' spinning
# threads fight over the cores (measured: the same Tacotron call 3x slower from a second thread on 2 cores).
MODEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")


async def run_model(fn, *args, **kwargs):
    """Model loading and inference: on the model thread, so the event loop keeps answering health checks."""
    return await asyncio.get_running_loop().run_in_executor(MODEL_THREAD, functools.partial(fn, *args, **kwargs))


async def run_blocking(fn, *args, **kwargs):
    """Other blocking work without torch (audio decoding/encoding, Griffin-Lim, file and SQLite I/O) on the
    default thread pool."""
    return await asyncio.to_thread(fn, *args, **kwargs)
