#!/usr/bin/env bash
# CycleGAN (Zhu et al. 2017: unpaired lesion-free skin <-> lesion skin) trained on a 2-core CPU
# with the realism recipe: resize-convolutions in both generators, two unconditional projected
# discriminators on frozen EfficientNet-Lite1 features (one per domain), hinge loss, an EMA of
# both generators, DiffAugment; the paper's cycle (x10) and identity (x0.5) losses and its pool
# of 50 fakes stay. One run trains both directions: G adds a lesion (skin -> lesion), G_BA
# removes it; DIRECTION picks which one evaluate/publish export. Training state lives outside
# the repository in $RUN; a float16 EMA snapshot for --warm-start on another machine goes to
# snapshots/.
#
#   scripts/publish_cyclegan_cpu.sh train                       # (re)start or continue the run for MINUTES minutes
#   DIRECTION=add scripts/publish_cyclegan_cpu.sh evaluate      # export G to $NEW, realism in its domain on ISIC 2017 validation
#   DIRECTION=add scripts/publish_cyclegan_cpu.sh publish       # $NEW -> model_cards/, samples, card, snapshot
#
# Data: the training splits only (ISIC 2017 training, HAM10000's 80 % training part); ISIC 2017
# validation / test and HAM10000 test stay held out for evaluation.
# Cost (measured 2026-12-01, 1 thread on the shared 2-core CPU, bundled sample): ~9 s per step of 8 at
# 128 px (two generators, two projected discriminators), ~3 GB peak RSS.
# First run (2026-12-01, 100 min on 1 of 2 cores while another run used the other: 2261 steps of 8,
# ~18k images, 2.6 s a step): every G output is the same red lesion on pink skin whatever the
# input (the cycle loss stayed at 0.52 from step 250 on); in the add domain on HAM10000 test KID
# excess +0.187, C2ST 1.00 / 0.97, worse than returning the input (+0.115) and than harmonised
# copy-paste (+0.048): not bundled (reports/realism/ham10000-test-cyclegan-add).
# Why (measured on that checkpoint and on a fresh one, one batch of 8): the gradient norm over both
# generators' weights of the adversarial term (hinge, summed over 4 projected heads x 2 domains) is
# 960-1240, that of the cycle term x10 is 52-59 and of the identity term x5 is 23-25: the projected
# heads' gradients outweigh the paper's cycle weight ~20x, so nothing ties the output to the input.
# LAMBDA_CYCLE=100, LAMBDA_IDENTITY=0.1 (2026-12-01, stopped at step 250, 12 min): cycle loss 0.53 -> 0.47
# by step 100, then flat; every output the same reddish texture, G_BA the same pink for every input.
# LAMBDA_CYCLE=300 (cycle gradient ~1.3x the adversarial one at initialisation) and LAMBDA_IDENTITY=0.1
# (identity weight 30), in a new run folder.
set -euo pipefail
source "$(dirname "$0")/_run_state.sh"
DIRECTION=${DIRECTION:-add}
case "$DIRECTION" in add) NETWORK=G ;; remove) NETWORK=G_BA ;; *) echo "DIRECTION must be add or remove, got '$DIRECTION'" >&2; exit 2 ;; esac
RUN=${RUN:-$HOME/gan-runs/cyclegan-128-c300}
DEST=${DEST:-model_cards/cyclegan-$DIRECTION-128}
NEW=${NEW:-$HOME/gan-runs/exports/cyclegan-$DIRECTION-128}
REPORT=${REPORT:-reports/realism/ham10000-test-cyclegan-$DIRECTION-c300}  # the first run's add report: ham10000-test-cyclegan-add
MINUTES=${MINUTES:-60}
NGF=${NGF:-16}
N_BLOCKS=${N_BLOCKS:-6}  # the paper's generator for 128 px images (9 blocks is its 256 px one)
BATCH=${BATCH:-8}
EMA_HALF_LIFE=${EMA_HALF_LIFE:-10000}
LAMBDA_CYCLE=${LAMBDA_CYCLE:-300}
LAMBDA_IDENTITY=${LAMBDA_IDENTITY:-0.1}
GA=${GA:-.venv/bin/gan-augment}
SNAPSHOT=${SNAPSHOT:-snapshots/cyclegan-128.safetensors}  # warm start when $RUN has no checkpoint (new machine)
case "${1:-}" in
  train)
    resume_or_warm_start "$RUN" "$SNAPSHOT"
    $GA train cyclegan --data ../shared/data/isic2017 --data ../shared/data/ham10000 --split training --size 128 \
      --set ngf="$NGF" --set n_blocks="$N_BLOCKS" --set upsample=resize --set discriminator=projected \
      --set gan_mode=hinge --set beta1=0 --set beta2=0.99 --set lr_decay_start=1 \
      --set ema_half_life_images="$EMA_HALF_LIFE" --set lambda_cycle="$LAMBDA_CYCLE" --set lambda_identity="$LAMBDA_IDENTITY" --diffaugment color,translation,cutout \
      --steps 100000 --batch-size "$BATCH" --workers 1 --sample-every 250 --checkpoint-every 250 \
      --max-minutes "$MINUTES" --out "$RUN" "${RESUME[@]}"
    ;;
  evaluate)
    $GA export "$RUN" --to "$NEW" --network "$NETWORK" --dtype float16 --hub-id "gan-augment/cyclegan-$DIRECTION-128" \
      --license other --license-name training-data-terms
    # held out and unpaired, in the generator's own domain: add = skin patches of half A (CycleGAN ignores
    # A's lesion masks) vs lesion crops of half B; remove = A's lesion crops vs B's skin patches (whole view only)
    baselines=identity; [ "$DIRECTION" = add ] && baselines=copy-paste,copy-paste-harmonized,identity
    $GA evaluate "$NEW" --data ../shared/data/ham10000 --split test --max-items 300 --domain "$DIRECTION" \
      --baselines "$baselines" --bank-data ../shared/data/ham10000 --bank-split training \
      --train-data ../shared/data/isic2017 --train-data ../shared/data/ham10000 --train-split training --max-training 4000 --out "$REPORT"
    ;;
  publish)
    rm -rf "$DEST" && cp -r "$NEW" "$DEST"
    cp "$REPORT/grid.png" "$DEST/samples.png"
    baselines=identity; [ "$DIRECTION" = add ] && baselines=copy-paste-harmonized
    $GA card "$DEST" --realism "$REPORT" --candidate "$(basename "$NEW")" --baselines "$baselines" \
      --samples "$DEST/samples.png" --samples-caption "Held-out HAM10000 test part (split by lesion id): real B, input A, and each candidate's output." \
      ${NOTES:+--notes "$NOTES"}
    mkdir -p snapshots
    $GA snapshot "$RUN" --to "$SNAPSHOT" --ema-only
    ;;
  *) echo "usage: DIRECTION=add|remove $0 train|evaluate|publish" >&2; exit 2 ;;
esac
