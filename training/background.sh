#!/usr/bin/env bash
# Long-running training loop for a developer machine: grows the corpus, re-preprocesses it every
# few minutes, and trains the synthesizer, all resumable. Stop with: pkill -f training/background.sh
# On a fresh machine (no runs/synth/last.pt) training continues from the committed training snapshot
# training/resume/synthesizer.pt (else from models/synthesizer.pt). Weights are exported to
# runs/synth/synthesizer.pt: copy them to training/resume/ at the end of a session so the next one goes on
# from there, and to models/ only when training.evaluate says they are better than the shipped model.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p runs
INIT=training/resume/synthesizer.pt
[ -f "$INIT" ] || INIT=models/synthesizer.pt
nice -n 10 $PY -m training.corpus --out data/corpus --utts 100 --virtual-per-voice 14 --workers 1 >> runs/corpus.log 2>&1 &
[ -d data/prep_so ] || $PY -m training.preprocess --speechocean data/speechocean --out data/prep_so >> runs/prep_so.log 2>&1
$PY -m training.preprocess --corpus data/corpus --out data/prep_syn >> runs/prep_syn.log 2>&1
nice -n 5 $PY -m training.train_synthesizer --data data/prep_syn:3 data/prep_so --run runs/synth --init "$INIT" \
    --minutes "${MINUTES:-90}" --export runs/synth/synthesizer.pt --save-every 100 >> runs/synth.log 2>&1 &
TRAIN=$!
while kill -0 $TRAIN 2>/dev/null; do
    sleep 300
    nice -n 10 $PY -m training.preprocess --corpus data/corpus --out data/prep_syn --workers 1 >> runs/prep_syn.log 2>&1
done
