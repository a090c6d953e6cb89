#!/usr/bin/env bash
# How the bundled mask2lesion-inpaint-128 checkpoint was trained, measured and published on
# a 2-core CPU (no GPU). Training state lives outside the repository in $RUN; a float16
# snapshot for --warm-start on another machine is committed under snapshots/.
#
#   scripts/publish_inpaint_cpu.sh train     # (re)start or continue the run for MINUTES minutes
#   scripts/publish_inpaint_cpu.sh publish   # export, realism reports, samples, card, snapshot
set -euo pipefail
source "$(dirname "$0")/_run_state.sh"
RUN=${RUN:-$HOME/gan-runs/inpaint-128}
DEST=${DEST:-model_cards/mask2lesion-inpaint-128}
MINUTES=${MINUTES:-60}
BASELINES=${BASELINES:-$HOME/gan-runs/reports}
GA=${GA:-.venv/bin/gan-augment}
SNAPSHOT=${SNAPSHOT:-snapshots/inpaint-128.safetensors}  # warm start when $RUN has no checkpoint (new machine)
case "${1:-}" in
  train)
    resume_or_warm_start "$RUN" "$SNAPSHOT"
    $GA train inpaint --data ../shared/data/isic2017 --data ../shared/data/ham10000 --size 128 --set ngf=16 \
      --diffaugment color,translation,cutout --steps 100000 --batch-size 16 --workers 1 --sample-every 250 \
      --checkpoint-every 500 --max-minutes "$MINUTES" --out "$RUN" "${RESUME[@]}"
    ;;
  publish)
    $GA export "$RUN" --to "$DEST" --dtype float16 --hub-id gan-augment/mask2lesion-inpaint-128 \
      --license other --license-name training-data-terms
    # baselines (copy-paste plain / harmonised, lesions from the training splits) measured once, same split and seed
    [ -f "$BASELINES/ham-test-baselines/realism.json" ] || $GA evaluate none --data ../shared/data/ham10000 --split test \
      --baselines copy-paste,copy-paste-harmonized --bank-data ../shared/data/ham10000 --bank-split training \
      --max-items 300 --out "$BASELINES/ham-test-baselines"
    [ -f "$BASELINES/isic-val-baselines/realism.json" ] || $GA evaluate mask2lesion-isic2017-128 --data ../shared/data/isic2017 \
      --split validation --baselines copy-paste,copy-paste-harmonized --bank-data ../shared/data/isic2017 --bank-split training \
      --max-items 300 --out "$BASELINES/isic-val-baselines"
    $GA evaluate "$DEST" --data ../shared/data/ham10000 --split test --baselines identity --max-items 300 \
      --add-to "$BASELINES/ham-test-baselines" --out reports/realism/ham10000-test
    $GA evaluate "$DEST" --data ../shared/data/isic2017 --split validation --baselines identity --max-items 300 \
      --add-to "$BASELINES/isic-val-baselines" --out reports/realism/isic2017-validation
    .venv/bin/python examples/inpaint_samples.py --model "$DEST" --data ../shared/data/ham10000 --split test --out "$DEST/samples.png"
    mkdir -p snapshots
    $GA snapshot "$RUN" --to "$SNAPSHOT"
    ;;
  *) echo "usage: $0 train|publish" >&2; exit 2 ;;
esac
