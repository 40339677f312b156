"""Arrays on the wire: plain JSON lists (RTVC-seed compatible) or a compact {dtype, shape, data: base64}."""
import base64
import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, Field

from common.errors import bad_request

ALLOWED_DTYPES = {"float32", "float16", "float64", "int16"}
FLOAT32_MAX = float(np.finfo(np.float32).max)
SEED_MAX = 2 ** 32 - 1  # numpy's RandomState (Griffin-Lim phases) takes no more; a larger seed was a 500


class CompactArray(BaseModel):
    dtype: Literal["float32", "float16", "float64", "int16"] = "float32"
    shape: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, max_length=3)
    data: str = Field(description="base64 of the little-endian C-order bytes")


NestedFloats = list[float] | list[list[float]] | list[list[list[float]]]
ArrayIn = Annotated[CompactArray | NestedFloats, Field(description="JSON list(s) or compact base64 form")]


def decode_array(value, name: str, ndim: tuple[int, ...] = (1,), max_elements: int = 50_000_000) -> np.ndarray:
    """float32 array from either wire form, rejecting bad shapes and non-finite values with a 422."""
    if isinstance(value, CompactArray):
        # math.prod, not np.prod: numpy's int64 product wraps around for shapes like [2**40, 2**40].
        if any(d < 0 for d in value.shape) or math.prod(value.shape) > max_elements:
            raise bad_request(f"{name}: shape {value.shape} holds more than {max_elements} values")
        try:
            raw = base64.b64decode(value.data, validate=True)
        except ValueError:
            raise bad_request(f"{name}: data is not valid base64") from None
        dtype = np.dtype(value.dtype).newbyteorder("<")
        if len(raw) != math.prod(value.shape) * dtype.itemsize:
            raise bad_request(f"{name}: {len(raw)} bytes do not match shape {value.shape} of {value.dtype}")
        arr = np.frombuffer(raw, dtype=dtype).reshape(value.shape)
    else:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError):
            raise bad_request(f"{name}: rows must all have the same length") from None
        if arr.size > max_elements:
            raise bad_request(f"{name}: too many values")
    if arr.ndim not in ndim:
        raise bad_request(f"{name}: expected {' or '.join(f'{n}-D' for n in ndim)} array, got shape {list(arr.shape)}")
    if arr.size == 0:
        raise bad_request(f"{name}: is empty")
    if not np.all(np.isfinite(arr)):
        raise bad_request(f"{name}: contains NaN or infinite values")
    if float(np.max(np.abs(arr))) > FLOAT32_MAX:
        # It would turn into inf as float32 (an embedding of 1e39 was stored and read back as nulls).
        raise bad_request(f"{name}: contains values beyond float32's range (+-{FLOAT32_MAX:.3g})")
    return np.ascontiguousarray(arr, dtype=np.float32)


def encode_array(arr: np.ndarray, compact: bool, dtype: str = "float32"):
    arr = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<"))
    if not compact:
        return arr.astype(np.float64).tolist()
    return {"dtype": dtype, "shape": list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode("ascii")}
