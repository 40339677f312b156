#!/usr/bin/env bash
# Distil a HiFi-GAN student on a lent GPU machine (the device tool), in one call, and bring it back via $OUT.
#
# Why: on 2 CPU cores the distillation reached 2647 steps at batch 8 in 95 minutes (models/README.md,
# "the distilled hifigan_lite.pt"), its held-out distance to the teacher still falling; the real-voice gaps of
# issue 25 (lite's WER and likeness, V1's speed) need a student trained far longer than that.
#
# Made here, once (the upload is capped at 64 MiB: the repo ~25 MB, the fp16 teacher ~28 MB, so the inputs
# travel as 8-bit mels, ~60 bytes a frame, and no audio at all: the teacher renders its targets there):
#   mkdir -p .carry/distill && grep -qx '/.carry/' .git/info/exclude || echo /.carry/ >> .git/info/exclude
#   .venv/bin/python -m training.distill_vocoder --export-teacher .carry/distill/teacher.pt
#   .venv/bin/python -m training.distill_vocoder --corpus /work/data/real --real-minutes 25 --tacotron-clips 240 \
#       --pack-inputs .carry/distill/inputs.xz
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .carry/distill/whl librosa==0.11.0 soundfile soxr audioread pooch decorator platformdirs cffi pycparser unidecode
# Then one device call (carry [".carry"], timeout_s ~560):
#   bash training/gpu_distill.sh .carry/distill 7 3,7 32
# args: the kit's folder, minutes of training, the student's resblock kernels (3: lite's shape; 3,7: wider;
# prune:0.625: V1 with every resblock's inner channels cut to 5/8 by training.prune_vocoder first, ~1.4x V1's
# speed; on 2 CPU cores its fine-tune reached 1185 steps and fell short of V1, models/README.md), batch. The student and its log come back as $OUT/student.pt (fp16, for HIFIGAN_LITE_WEIGHTS) and
# $OUT/log.jsonl; judge it here with the real-voice evaluation before shipping anything.
set -euo pipefail
kit=${1:?kit folder}
minutes=${2:-7}
kernels=${3:-3}
batch=${4:-32}
out=${OUT:-/tmp/gpu_distill_out}
mkdir -p "$out"
if compgen -G "$kit/whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$kit"/whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
init=()
[ "$kernels" = 3 ] && init=(--init models/hifigan_lite.pt --warmup 200)   # lite's shape: go on from the shipped one
if [[ "$kernels" == prune:* ]]; then   # the pruned V1 is made here from the kit's teacher (~2 min on 2 cores)
  python3 -m training.prune_vocoder --inputs "$kit/inputs.xz" --teacher "$kit/teacher.pt" --keep "${kernels#prune:}" \
    --export /tmp/pruned_init.pt 2>&1 | tail -3
  kernels=3 init=(--init /tmp/pruned_init.pt --warmup 100)
fi
set +e
python3 -m training.distill_vocoder --inputs "$kit/inputs.xz" --teacher "$kit/teacher.pt" --run /tmp/distill_run \
  --kernels "$kernels" "${init[@]}" --batch "$batch" --lr 2e-4 --minutes "$minutes" --save-every 500 \
  --export "$out/student.pt" 2>&1 | tr '\r' '\n' | grep -v -e '^distil' -e '^teacher' | tail -40
status=${PIPESTATUS[0]}
set -e
cp /tmp/distill_run/log.jsonl "$out/log.jsonl" 2>/dev/null || true
exit "$status"
