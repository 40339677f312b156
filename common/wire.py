"""Arrays on the wire: plain JSON lists (RTVC-seed compatible) or a compact {dtype, shape, data: base64}."""
import base64
import math
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, WithJsonSchema
from pydantic_core import PydanticCustomError

from common.errors import bad_request

ALLOWED_DTYPES = {"float32", "float16", "float64", "int16"}
FLOAT32_MAX = float(np.finfo(np.float32).max)
# Speaker embeddings are unit-norm (GE2E), so every value lies within [-1, 1]; far larger ones overflow
# Tacotron's float32 layers (an embedding of 1e38s came back as a mel of NaN, JSON nulls).
EMBEDDING_BOUND = 1.0
SEED_MAX = 2 ** 32 - 1  # numpy's RandomState (Griffin-Lim phases) takes no more; a larger seed was a 500


# Requests take JSON's own types only (no true for 1, no "16000" for 16000): what the schema says is what is
# accepted, so a generated client's request and the server agree (schemathesis' negative_data_rejection).
STRICT = ConfigDict(strict=True)


def _json_integer(value):
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a JSON integer")
    return value


def json_int(**constraints):
    """An integer as JSON Schema has it: 200 or 200.0, never true or "200" (strict mode alone refuses 200.0).
    `constraints` (ge, le) go before the validator, or pydantic leaves them out of the schema."""
    return Annotated[int, Field(**constraints), Strict(False), BeforeValidator(_json_integer)]


class CompactArray(BaseModel):
    model_config = STRICT
    dtype: Literal["float32", "float16", "float64", "int16"] = "float32"
    shape: list[json_int(ge=0)] = Field(min_length=1, max_length=3)
    data: str = Field(description="base64 of the little-endian C-order bytes")


NestedFloats = list[float] | list[list[float]] | list[list[list[float]]]
ArrayIn = Annotated[CompactArray | NestedFloats, Field(description="JSON list(s) or compact base64 form")]
# Standard base64 with its padding, as base64.b64decode(validate=True) takes it.
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


def shaped(*shapes: tuple, low: float = -FLOAT32_MAX, high: float = FLOAT32_MAX, description: str = ""):
    """An ArrayIn whose schema states what the route accepts: one of `shapes`, each a (min, max) per dimension
    (ints or common.openapi.setting placeholders), values within [low, high]. Validation is ArrayIn's; what
    no JSON Schema can say (equal row lengths, base64 length matching `shape`) is checked by decode_array."""
    number = {"type": "number", "minimum": low, "maximum": high}

    def nested(dims):
        if not dims:
            return number
        return {"type": "array", "minItems": dims[0][0], "maxItems": dims[0][1], "items": nested(dims[1:])}

    def compact(dims):
        return {"type": "object", "required": ["shape", "data"], "properties": {
            "dtype": {"enum": sorted(ALLOWED_DTYPES), "default": "float32"},
            "shape": {"type": "array", "minItems": len(dims), "maxItems": len(dims),
                      "prefixItems": [{"type": "integer", "minimum": lo, "maximum": hi} for lo, hi in dims]},
            "data": {"type": "string", "pattern": BASE64,
                     "description": "base64 of the little-endian C-order bytes: prod(shape) x itemsize"}}}
    schema = {"anyOf": [nested(s) for s in shapes] + [compact(s) for s in shapes],
              "description": description or "JSON list(s) or compact base64 form"}
    return Annotated[ArrayIn, WithJsonSchema(schema)]


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


def check_embedding_range(embeddings: np.ndarray, name: str = "embedding") -> None:
    peak = float(np.max(np.abs(embeddings)))
    if peak > EMBEDDING_BOUND:
        raise bad_request(f"{name}: values must lie within [-1, 1] (speaker embeddings are unit-norm), got {peak:.3g}")
