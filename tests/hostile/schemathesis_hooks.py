"""schemathesis hooks for the stage and orchestrator runs (tests/hostile/test_schemas.py,
test_orchestrator_schema.py; SCHEMATHESIS_HOOKS): the rules the services enforce that no JSON Schema can
state, each named by the words of its error message.

A schema-valid request that is rejected (positive_data_acceptance) is forgiven only when the error is one of
these; every other constraint the server enforces is in its schema (limits from its settings included), so
any other rejection fails the run. The orchestrator passes the stages' messages on, so it is forgiven those
too, and its own (URLs a pattern cannot check, what the network says about them, empty uploads).
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
ORCHESTRATOR_ONLY = (
    "the uploaded file is empty",          # a binary part's length: JSON Schema's minLength counts characters
    "is not a valid URL",                  # reference_url / webhook_url: the pattern states scheme, no spaces or
    "has an invalid host name",            #   credentials; host and port grammar (RFC 3986, IDNA) it does not
    "has an invalid port",
    "has no host",
    "is not a public address",             # an address literal the outbound policy refuses (OUTBOUND_ALLOW)
    "could not be reached",                # the URL's host resolved, refused or did not answer (no network here)
    "the URL answered",                    # ... or answered, but not 200
    "the URL redirects",
    "the URL's body is empty",
    "no checkpoint for",                   # an accent the synthesizer has no checkpoint for: the stage's setting
                                           #   (SYNTHESIZER_ACCENT_CHECKPOINTS), unknown to the orchestrator's schema
)
REASONS = {"voxclone orchestrator": UNSTATEABLE + ORCHESTRATOR_ONLY}
# negative_data_rejection (ST201) off for one operation, the web page's Speak: every multipart part is text, so
# a "wrong type" schemathesis makes for a part (the integer seed as the string "0", the number 5 as `text`)
# arrives as the text a right one would, and with a built-in voice or any reference file the route starts its
# event stream (200) before it reads the audio. (A config-file `[[operations]]` switch does not hold against
# `--checks all` on the command line, which wins over it.)
NO_NEGATIVE_CHECK = {("POST", "/v1/studio/speak")}


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep (True) every failure except a positive-data rejection for one of the service's reasons, and the
    negative-data acceptances of NO_NEGATIVE_CHECK."""
    code = getattr(failure, "code", None)
    if code == "ST201":
        return (case.operation.method.upper(), case.operation.path) not in NO_NEGATIVE_CHECK
    if code != "ST202" or response is None:
        return True
    try:
        message = response.json()["error"]["message"]
    except Exception:  # noqa: BLE001 - not our error shape: keep the failure
        return True
    title = case.operation.schema.raw_schema.get("info", {}).get("title", "")
    return not any(reason in message for reason in REASONS.get(title, UNSTATEABLE))
