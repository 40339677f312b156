"""`voxclone`: start the stack, clone voices, manage the voice library, call any stage directly.

    voxclone start                                  # all four services on loopback
    voxclone clone REF.wav "Hello there." -o out.wav
    voxclone batch REF.wav lines.txt -o outdir/     # one file per line, with a progress bar
    voxclone voices add NAME REF.wav | list | show ID | rm ID
    voxclone tts VOICE_ID "Hello." -o out.wav
    voxclone embed REF.wav -o emb.npy               # encoder stage
    voxclone synthesize emb.npy "Hello." -o mel.npy # synthesizer stage
    voxclone vocode mel.npy -o out.wav              # vocoder stage
    voxclone health

URLs default to the loopback stack (VOXCLONE_URL, VOXCLONE_ENCODER_URL, ...); VOXCLONE_API_KEY is sent
as X-API-Key when set.
"""
import argparse
import json
import os
import sys
from pathlib import Path

import httpx
import numpy as np

DEFAULTS = {"orchestrator": "http://127.0.0.1:8000", "encoder": "http://127.0.0.1:8001",
            "synthesizer": "http://127.0.0.1:8002", "vocoder": "http://127.0.0.1:8003"}


class CLIError(Exception):
    pass


def url_for(args, service: str) -> str:
    override = getattr(args, f"{service}_url", None)
    env = os.environ.get("VOXCLONE_URL" if service == "orchestrator" else f"VOXCLONE_{service.upper()}_URL")
    return (override or env or DEFAULTS[service]).rstrip("/")


def client(args) -> httpx.Client:
    key = args.api_key or os.environ.get("VOXCLONE_API_KEY")
    return httpx.Client(timeout=args.timeout, headers={"X-API-Key": key} if key else {})


def checked(resp: httpx.Response) -> httpx.Response:
    if resp.status_code >= 400:
        try:
            message = resp.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = resp.text[:300]
        raise CLIError(f"HTTP {resp.status_code}: {message}")
    return resp


def write_output(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    print(f"wrote {path} ({len(data)} bytes)")


def clone_one(http, base, ref: Path, text: str, args) -> bytes:
    form = {"text": text, "format": args.format}
    if args.vocoder:
        form["vocoder"] = args.vocoder
    with open(ref, "rb") as f:
        return checked(http.post(base + "/v1/clone", files={"reference_audio": (ref.name, f)}, data=form)).content


def cmd_clone(args, http):
    write_output(args.output, clone_one(http, url_for(args, "orchestrator"), args.reference, args.text, args))


def cmd_batch(args, http):
    from tqdm import tqdm
    lines = [ln.strip() for ln in args.texts.read_text().splitlines() if ln.strip()]
    args.output.mkdir(parents=True, exist_ok=True)
    failed = 0
    for i, line in enumerate(tqdm(lines, desc="cloning", unit="line")):
        try:
            (args.output / f"{i + 1:04d}.{args.format}").write_bytes(
                clone_one(http, url_for(args, "orchestrator"), args.reference, line, args))
        except CLIError as exc:
            failed += 1
            tqdm.write(f"line {i + 1}: {exc}")
    print(f"{len(lines) - failed} of {len(lines)} lines written to {args.output}")
    if failed:
        raise CLIError(f"{failed} lines failed")


def cmd_voices(args, http):
    base = url_for(args, "orchestrator") + "/v1/voices"
    if args.action == "list":
        for v in checked(http.get(base)).json()["voices"]:
            print(f"{v['id']}  {v['name']}  ({v['source']})")
    elif args.action == "add":
        if not args.reference:
            raise CLIError("voices add needs NAME and REF.wav")
        with open(args.reference, "rb") as f:
            v = checked(http.post(base, files={"file": (args.reference.name, f)}, data={"name": args.target})).json()
        print(v["id"])
    elif args.action == "show":
        print(json.dumps(checked(http.get(f"{base}/{args.target}", params={"include_embedding": False})).json(), indent=1))
    elif args.action == "rm":
        checked(http.delete(f"{base}/{args.target}"))
        print(f"deleted {args.target}")


def cmd_tts(args, http):
    body = {"voice_id": args.voice, "text": args.text, "format": args.format}
    write_output(args.output, checked(http.post(url_for(args, "orchestrator") + "/v1/tts", json=body)).content)


def cmd_embed(args, http):
    with open(args.reference, "rb") as f:
        emb = checked(http.post(url_for(args, "encoder") + "/v1/embed", files={"file": (args.reference.name, f)}))
    np.save(args.output, np.asarray(emb.json()["embedding"], dtype=np.float32))
    print(f"wrote {args.output}")


def cmd_synthesize(args, http):
    body = {"text": args.text, "embedding": np.load(args.embedding).astype(float).tolist()}
    mel = checked(http.post(url_for(args, "synthesizer") + "/v1/synthesize", json=body)).json()["mels"][0]
    np.save(args.output, np.asarray(mel["mel"], dtype=np.float32))
    print(f"wrote {args.output} ({mel['length']} frames, stopped={mel['stopped']})")


def cmd_vocode(args, http):
    body = {"mel": np.load(args.mel).astype(float).tolist(), "format": args.format}
    if args.vocoder:
        body["backend"] = args.vocoder
    resp = http.post(url_for(args, "vocoder") + "/v1/vocode", json=body, headers={"accept": f"audio/{args.format}"})
    write_output(args.output, checked(resp).content)


def cmd_health(args, http):
    bad = 0
    for name in DEFAULTS:
        try:
            ok = http.get(url_for(args, name) + "/readyz").status_code == 200
        except httpx.HTTPError:
            ok = False
        bad += not ok
        print(f"{name:<13} {url_for(args, name):<26} {'ready' if ok else 'NOT READY'}")
    if bad:
        raise CLIError(f"{bad} service(s) not ready")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="voxclone", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api-key")
    ap.add_argument("--timeout", type=float, default=600.0)
    for name in DEFAULTS:
        ap.add_argument(f"--{name}-url", dest=f"{name}_url")
    sub = ap.add_subparsers(dest="command", required=True)
    audio = {"choices": ["wav", "mp3", "opus", "aac", "flac", "pcm", "ogg"], "default": "wav"}
    p = sub.add_parser("start", help="start all four services on loopback", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p = sub.add_parser("clone", help="speak TEXT in the voice of REF")
    p.add_argument("reference", type=Path)
    p.add_argument("text")
    p.add_argument("-o", "--output", type=Path, default=Path("clone.wav"))
    p.add_argument("--format", **audio)
    p.add_argument("--vocoder", choices=["hifigan", "wavernn", "griffinlim"])
    p = sub.add_parser("batch", help="clone every line of a text file")
    p.add_argument("reference", type=Path)
    p.add_argument("texts", type=Path)
    p.add_argument("-o", "--output", type=Path, default=Path("clones"))
    p.add_argument("--format", **audio)
    p.add_argument("--vocoder", choices=["hifigan", "wavernn", "griffinlim"])
    p = sub.add_parser("voices", help="manage the voice library")
    p.add_argument("action", choices=["list", "add", "show", "rm"])
    p.add_argument("target", nargs="?", help="NAME for add, ID for show/rm")
    p.add_argument("reference", nargs="?", type=Path)
    p = sub.add_parser("tts", help="speak with a saved voice")
    p.add_argument("voice")
    p.add_argument("text")
    p.add_argument("-o", "--output", type=Path, default=Path("tts.wav"))
    p.add_argument("--format", **audio)
    p = sub.add_parser("embed", help="encoder stage: REF -> embedding .npy")
    p.add_argument("reference", type=Path)
    p.add_argument("-o", "--output", type=Path, default=Path("embedding.npy"))
    p = sub.add_parser("synthesize", help="synthesizer stage: embedding .npy + TEXT -> mel .npy")
    p.add_argument("embedding", type=Path)
    p.add_argument("text")
    p.add_argument("-o", "--output", type=Path, default=Path("mel.npy"))
    p = sub.add_parser("vocode", help="vocoder stage: mel .npy -> audio")
    p.add_argument("mel", type=Path)
    p.add_argument("-o", "--output", type=Path, default=Path("vocoded.wav"))
    p.add_argument("--format", **audio)
    p.add_argument("--vocoder", choices=["hifigan", "wavernn", "griffinlim"])
    sub.add_parser("health", help="readiness of every service")
    return ap


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["start"]:
        from common.stack import main as start
        start(argv[1:])
        return 0
    args = parser().parse_args(argv)
    handler = globals()[f"cmd_{args.command}"]
    try:
        with client(args) as http:
            handler(args, http)
    except CLIError as exc:
        print(f"voxclone: {exc}", file=sys.stderr)
        return 1
    except httpx.ConnectError as exc:
        print(f"voxclone: cannot reach the service ({exc}); is the stack running? (voxclone start)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
