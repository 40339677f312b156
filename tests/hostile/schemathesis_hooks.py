"""schemathesis hooks for the stage runs (tests/hostile/test_schemas.py, SCHEMATHESIS_HOOKS): the rules the
stages enforce that no JSON Schema can state, each named by the words of its error message.

A schema-valid request that is rejected (positive_data_acceptance) is forgiven only when the error is one of
these; every other constraint the server enforces is in its schema (limits from its settings included), so
any other rejection fails the run.
"""
import schemathesis

UNSTATEABLE = (
    "bytes do not match shape",            # compact array: len(base64-decoded data) vs prod(shape) x itemsize
    "rows must all have the same length",  # a nested list's rows: JSON Schema cannot tie one length to another
    "contains NaN or infinite",            # compact array bytes that decode to NaN/inf (JSON has neither)
    "beyond float32's range",              # compact float64 bytes past float32 (JSON lists are bounded in schema)
    "speaker embeddings are unit-norm",    # compact bytes past [-1, 1] (JSON lists: bounded in the schema)
    "out of range (samples belong",        # compact bytes past the peak bound (JSON lists: bounded too)
    "has nothing to speak",                # a text without a letter or digit (str.isalnum, over all of Unicode)
    "unpaired surrogate",                  # a lone UTF-16 surrogate escaped in the JSON text
    "embeddings for",                      # (N, 256) embeddings: N must be 1 or the number of texts
    "too short (need at least 0.1 s)",     # wav duration = len(wav) / sample_rate: two fields
    "longer than the",                     # the same duration over MAX_AUDIO_SECONDS
    "is silent",                           # every sample below 16-bit resolution
    "not a readable audio file",           # an upload (format: binary) whose bytes are no audio format (415)
)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep (True) every failure except a positive-data rejection for one of the UNSTATEABLE reasons."""
    if getattr(failure, "code", None) != "ST202" or response is None:
        return True
    try:
        message = response.json()["error"]["message"]
    except Exception:  # noqa: BLE001 - not our error shape: keep the failure
        return True
    return not any(reason in message for reason in UNSTATEABLE)
