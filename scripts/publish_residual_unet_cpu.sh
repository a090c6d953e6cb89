#!/usr/bin/env bash
# The residual U-Net translator (Furger et al. 2020: add a lesion inside a mask to lesion-free
# skin, or remove one) trained on a 2-core CPU with the realism recipe: resize-convolutions,
# projected discriminator on frozen EfficientNet-Lite1 features with the mask as condition,
# hinge loss, generator EMA, DiffAugment; the paper's relevancy loss (x10) keeps the rest of
# the image. Training state lives outside the repository in $RUN; a float16 EMA snapshot for
# --warm-start on another machine goes to snapshots/.
#
#   DIRECTION=add scripts/publish_residual_unet_cpu.sh train      # (re)start or continue the run for MINUTES minutes
#   DIRECTION=add scripts/publish_residual_unet_cpu.sh evaluate   # export to $NEW, realism in its domain on ISIC 2017 validation
#   DIRECTION=add scripts/publish_residual_unet_cpu.sh publish    # $NEW -> model_cards/, samples, card, snapshot
#
# Data: the training splits only (ISIC 2017 training, HAM10000's 80 % training part); ISIC 2017
# validation / test and HAM10000 test stay held out for evaluation.
set -euo pipefail
source "$(dirname "$0")/_run_state.sh"
DIRECTION=${DIRECTION:-add}
case "$DIRECTION" in add|remove) ;; *) echo "DIRECTION must be add or remove, got '$DIRECTION'" >&2; exit 2 ;; esac
RUN=${RUN:-$HOME/gan-runs/runet-$DIRECTION-128}
DEST=${DEST:-model_cards/residual-unet-$DIRECTION-128}
NEW=${NEW:-$HOME/gan-runs/exports/residual-unet-$DIRECTION-128}
REPORT=${REPORT:-reports/realism/ham10000-test-residual-unet-$DIRECTION}
MINUTES=${MINUTES:-60}
NGF=${NGF:-16}
EMA_HALF_LIFE=${EMA_HALF_LIFE:-10000}
SNAPSHOT=${SNAPSHOT:-snapshots/runet-$DIRECTION-128.safetensors}  # warm start when $RUN has no checkpoint (new machine)
GA=${GA:-.venv/bin/gan-augment}
case "${1:-}" in
  train)
    resume_or_warm_start "$RUN" "$SNAPSHOT"
    $GA train residual_unet --data ../shared/data/isic2017 --data ../shared/data/ham10000 --split training --size 128 \
      --set direction="$DIRECTION" --set ngf="$NGF" --set upsample=resize --set discriminator=projected \
      --set gan_mode=hinge --set beta1=0 --set beta2=0.99 --set lr_decay_start=1 \
      --set ema_half_life_images="$EMA_HALF_LIFE" --diffaugment color,translation,cutout \
      --steps 100000 --batch-size 16 --workers 1 --sample-every 250 --checkpoint-every 250 \
      --max-minutes "$MINUTES" --out "$RUN" "${RESUME[@]}"
    ;;
  evaluate)
    $GA export "$RUN" --to "$NEW" --dtype float16 --hub-id "gan-augment/residual-unet-$DIRECTION-128" \
      --license other --license-name training-data-terms
    # held out and unpaired, in the model's own domain (--domain from the checkpoint): add = skin patches of half A
    # with A's lesion masks vs lesion crops of half B; remove = A's lesion crops vs B's skin patches (whole view only)
    baselines=identity; [ "$DIRECTION" = add ] && baselines=copy-paste,copy-paste-harmonized,identity
    $GA evaluate "$NEW" --data ../shared/data/ham10000 --split test --max-items 300 --domain "$DIRECTION" \
      --baselines "$baselines" --bank-data ../shared/data/ham10000 --bank-split training \
      --train-data ../shared/data/isic2017 --train-data ../shared/data/ham10000 --train-split training --max-training 4000 --out "$REPORT"
    ;;
  publish)
    rm -rf "$DEST" && cp -r "$NEW" "$DEST"
    cp "$REPORT/grid.png" "$DEST/samples.png"
    baselines=identity; input="lesion crop + its mask"
    [ "$DIRECTION" = add ] && baselines=copy-paste-harmonized && input="skin patch + a lesion mask"
    $GA card "$DEST" --realism "$REPORT" --candidate "$(basename "$NEW")" --baselines "$baselines" \
      --samples "$DEST/samples.png" --samples-caption "Held-out HAM10000 test part (split by lesion id): real B, input A ($input), and each candidate's output." \
      ${NOTES:+--notes "$NOTES"}
    mkdir -p snapshots
    $GA snapshot "$RUN" --to "$SNAPSHOT" --ema-only
    ;;
  *) echo "usage: DIRECTION=add|remove $0 train|evaluate|publish" >&2; exit 2 ;;
esac
