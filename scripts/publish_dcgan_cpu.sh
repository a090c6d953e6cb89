#!/usr/bin/env bash
# How the bundled dcgan-ham10000-64 checkpoint was retrained without the checkerboard
# (resize-convolutions instead of transposed convolutions), measured and published on a
# 2-core CPU. Same data, length and settings as the first (transposed) version, so the two
# are compared at equal epochs and about equal wall-clock minutes.
#
#   scripts/publish_dcgan_cpu.sh train     # (re)start or continue the run for MINUTES minutes
#   scripts/publish_dcgan_cpu.sh evaluate  # realism report: old (transposed) vs new vs copy-paste
#   scripts/publish_dcgan_cpu.sh publish   # export, samples, card
set -euo pipefail
source "$(dirname "$0")/_run_state.sh"
RUN=${RUN:-$HOME/gan-runs/dcgan-ham10000-64-resize}
DEST=${DEST:-model_cards/dcgan-ham10000-64}
NEW=${NEW:-$HOME/gan-runs/exports/dcgan-ham10000-64-resize}
MINUTES=${MINUTES:-60}
GA=${GA:-.venv/bin/gan-augment}
REPORT=reports/realism/ham10000-test-dcgan-64
case "${1:-}" in
  train)
    resume_or_warm_start "$RUN"
    $GA train dcgan --data ../shared/data/ham10000 --split training --conditional --size 64 --set ngf=32 --set ndf=32 \
      --set upsample=resize --epochs 30 --batch-size 64 --workers 1 --sample-every 250 --checkpoint-every 250 \
      --max-minutes "$MINUTES" --out "$RUN" "${RESUME[@]}"
    ;;
  evaluate)
    $GA export "$RUN" --to "$NEW" --dtype float16 --hub-id gan-augment/dcgan-ham10000-64 --license cc-by-nc-sa-4.0
    # the transposed-convolution version as bundled before ($DEST at its last commit with it)
    $GA evaluate "${OLD:-dcgan-ham10000-64}" "$NEW" --data ../shared/data/ham10000 --split test --size 64 --views whole \
      --baselines copy-paste-harmonized --bank-data ../shared/data/ham10000 --bank-split training --max-items 300 \
      --out "$REPORT"
    ;;
  publish)
    rm -rf "$DEST" && cp -r "$NEW" "$DEST"
    .venv/bin/python examples/class_samples.py --model "$DEST" --data ../shared/data/ham10000 --split test --out "$DEST/samples.png"
    $GA card "$DEST" --realism "$REPORT" --candidate "$(basename "$NEW")" --baselines copy-paste-harmonized \
      --samples "$DEST/samples.png" --samples-caption "Rows: akiec, bcc, bkl, df, mel, nv, vasc. First column a random real held-out image of the class, then one column per seed; 64 px." \
      ${NOTES:+--notes "$NOTES"}
    ;;
  *) echo "usage: $0 train|evaluate|publish" >&2; exit 2 ;;
esac
