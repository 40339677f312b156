"""The multipart bodies in the OpenAPI schema as a client has to send them. FastAPI documents Form and File
parameters as one JSON object; what it gets wrong or cannot say is put right here:

- An optional part is `X or null`, but a form has no null: a part left out is the default. schemathesis sent
  the text "null" for `seed` and `reference_url` and got 422s for valid-looking requests. And a part sent
  empty is as good as left out (FastAPI reads "" so, as browsers send blank fields): the schema says so.
- A file is `contentMediaType: application/octet-stream` (OpenAPI 3.1), which generators fill with text;
  `format: binary` (OpenAPI 3.0's way, which clients and schemathesis read) says it is bytes.
- Rules between parts that the routes check themselves (one reference, the file or its URL; a voice or a
  reference): FORM_RULES, per path.
"""
from common.audio_encode import STREAMABLE
from common.openapi import transform_schema

EMPTY = {"type": "string", "maxLength": 0}
FILE = {"type": "string", "format": "binary"}


def exactly_one(file_part: str, text_part: str) -> dict:
    """One of an upload and a text part (deps.reference_of, studio.start): not both, not neither. Said without
    `not`: schemathesis' coverage phase cannot judge a `not` over a body holding a file (Unsupported type)."""
    return {"oneOf": [{"required": [file_part], "properties": {text_part: EMPTY}},
                      {"required": [text_part], "properties": {text_part: {"minLength": 1}, file_part: False}}]}


# ogg is written whole, never sentence by sentence (common.audio_encode.STREAMABLE).
NO_OGG_STREAM = {"anyOf": [{"properties": {"stream": {"enum": [False, ""]}}},
                           {"properties": {"format": {"enum": [*STREAMABLE, ""]}}}]}
FORM_RULES = {
    "/v1/clone": {"allOf": [exactly_one("reference_audio", "reference_url"), NO_OGG_STREAM]},
    "/v1/jobs": exactly_one("reference_audio", "reference_url"),
    "/v1/voices": exactly_one("file", "reference_url"),
    "/v1/studio/speak": exactly_one("reference_audio", "voice"),
}


def _part(schema: dict, required: bool) -> dict:
    """A part's schema without the null variant, a file as binary, an optional text part also empty."""
    variants = [v for v in schema.get("anyOf", ()) if v.get("type") != "null"]
    if "anyOf" in schema and len(variants) == 1:
        schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **variants[0]}
    if schema.get("contentMediaType") == "application/octet-stream":
        return {**{k: v for k, v in schema.items() if k != "contentMediaType"}, **FILE}
    if schema.get("format") == "binary" or required:
        return schema
    notes = {k: schema[k] for k in ("title", "description", "default") if k in schema}
    return {**notes, "anyOf": [{k: v for k, v in schema.items() if k not in notes}, EMPTY]}


def describe_forms(openapi: dict) -> dict:
    """Rewrite every multipart body of `openapi` (in place, and returned)."""
    components = openapi.get("components", {}).get("schemas", {})
    for path, operations in openapi.get("paths", {}).items():
        for operation in operations.values():
            form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
            if not form:
                continue
            ref = form["schema"].get("$ref", "")
            body = components.get(ref.rsplit("/", 1)[-1]) if ref else form["schema"]
            required = set(body.get("required", ()))
            body["properties"] = {name: _part(part, name in required) for name, part in body["properties"].items()}
            body.update(FORM_RULES.get(path, {}))
    return openapi


def state_forms_in_schema(app) -> None:
    """Make `app.openapi()` describe its multipart bodies as above."""
    transform_schema(app, describe_forms)
