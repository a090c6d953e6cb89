#!/usr/bin/env bash
# Whole-image Mask2Lesion (pix2pix U-Net, mask -> whole dermoscopic image) retrained on a
# 2-core CPU with the realism recipe, next to the paper's recipe at equal wall-clock minutes.
# Training state lives outside the repository in $RUNS; a float16 snapshot for --warm-start
# on another machine goes to snapshots/.
#
#   scripts/mask2lesion_cpu.sh projected MINUTES   # (re)start or continue the realism-recipe run
#   scripts/mask2lesion_cpu.sh paper MINUTES       # the paper's recipe (PatchGAN + L1), same U-Net
#   scripts/mask2lesion_cpu.sh export NAME RUN     # RUN's EMA/G generator -> $RUNS/exports/NAME
#   scripts/mask2lesion_cpu.sh evaluate            # realism report on ISIC 2017 validation
set -euo pipefail
RUNS=${RUNS:-$HOME/gan-runs}
GA=${GA:-.venv/bin/gan-augment}
DATA=../shared/data/isic2017
# the same U-Net for both recipes: 128 px, ngf 32, instance norm, resize-convolutions
UNET=(--size 128 --set ngf=32 --set norm=instance --set upsample=resize)
common() { # out minutes
  local resume=(); [ -f "$1/checkpoint.safetensors" ] && resume=(--resume)
  echo --data "$DATA" --split training --batch-size 16 --workers 1 --sample-every 250 --checkpoint-every 250 \
    --max-minutes "$2" --out "$1" "${resume[@]}"
}
case "${1:-}" in
  projected)
    # noise input (style_dim) the generator cannot ignore + capped mode seeking, projected
    # discriminator on frozen EfficientNet-Lite1, hinge loss, EMA, DiffAugment, no L1 to the
    # paired image (it would pull every sample to the one training image of that mask)
    $GA train pix2pix "${UNET[@]}" --set dropout=0 --set style_dim=64 --set discriminator=projected \
      --set gan_mode=hinge --set lambda_l1=0 --set lambda_ms=1 --set ema_half_life_images=10000 \
      --set beta1=0 --set beta2=0.99 --set lr_decay_start=1 --diffaugment color,translation,cutout \
      --steps 100000 $(common "$RUNS/m2l-projected-128" "${2:-60}")
    ;;
  paper)
    # Isola et al. 2017: 70x70 PatchGAN, vanilla cGAN loss + L1 (lambda 100), dropout as the noise
    $GA train pix2pix "${UNET[@]}" --set d_norm=instance --set lr_decay_start=1 \
      --steps 100000 $(common "$RUNS/m2l-paper-128" "${2:-12}")
    ;;
  export)
    $GA export "$3" --to "$RUNS/exports/$2" --dtype float16
    ;;
  evaluate)
    shift
    # the copy-paste baselines and the old checkpoint were measured once (publish_inpaint_cpu.sh)
    $GA evaluate "$@" --data "$DATA" --split validation --max-items 300 --views whole,crop \
      --add-to "$RUNS/reports/isic-val-baselines" --out reports/realism/isic2017-validation-mask2lesion
    ;;
  *) echo "usage: $0 projected|paper MINUTES | export NAME RUN | evaluate MODEL..." >&2; exit 2 ;;
esac
