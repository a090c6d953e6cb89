#!/usr/bin/env bash
# How the bundled progan-ham10000-64 checkpoint was trained, measured and published on a
# 2-core CPU: class-conditional ProGAN (Karras et al. 2018, labels as in Bissoto et al. 2018)
# grown 4 -> 64 px on the HAM10000 training split (7 classes), logistic loss + lazy R1, a D twice
# as wide as G learning at twice its rate, no DiffAugment (AUG), the exported generator is the
# moving average (EMA). Measured here: with a wider G (fmap_base 512: 128 channels up to 16 px) a
# step of 32 took 1.5 s already at 16 px, so growing to 64 px would have taken about 3.5 h and
# 128 px far longer than the 150-minute budget of a run; the published size is 64 px with G at
# fmap_base 256 (128-128-64-32-16 channels at 4-64 px) and D at 512 (128-128-128-64-32).
# STATUS (2026-12-01, fourth session): published as progan-ham10000-64 from the run in
# ~/gan-runs/progan-64-wide-d-noaug (58.5 min on 1 core + 20 min on 2, resumed: 6829 steps of 32);
# HAM10000 test KID excess +0.21 (DCGAN +0.067), C2ST 1.00 / 0.54 (at step 5419: +0.29, 1.00 / 0.85).
# How it got here:
# Three CPU attempts (WGAN-GP) were stopped because the
# generator had not learned: every sample the same blurry square at 8-16 px after 40-106k images
# (G learned the class mean and ignored z). A code review then found that the "64 px" runs
# grew to 128 px (stage count off by one, fixed) and that WGAN-GP's third D pass + double
# backward cost ~1/3 of a step. The CPU recipe is now LOSS=logistic-r1 (non-saturating loss,
# lazy R1 every 16 steps, StyleGAN2) with DiffAugment color,translation. Old run folders do not
# resume (one stage fewer). Gate before a long run: per-pixel std across z at 16 px should
# reach ~0.15 (real ~0.27) within ~30k images.
# 2026-12-01: the logistic-r1 run with the default r1_gamma=1 grew to 64 px in 8 min (12 steps/s at
# 4-8 px, 2 steps/s at 32-64 px) but its D loss sat at 2 ln 2 = 1.386 (D at chance) from step ~500
# on and every sample was the same greenish blob (suspect: R1 that strong flattens D). StyleGAN2-ADA's rule
# gives gamma = 0.0002 x 64^2 / 32 = 0.026 for 64 px at batch 32: R1_GAMMA, in a new run folder.
# With 0.026 (stopped after 4 min: 1702 steps of 32, ~54k images, fading in 32 px) D loss stayed at
# 1.33-1.38 and the samples
# were still one blurry square for every z and class: R1 is not the (only) cause. Checked since:
# D alone (this architecture, fmap_base 256, Adam 1e-3) tells real HAM10000 images from a grey
# image within 50 steps at 4 and at 16 px (loss 1.37 -> 0.07), so D is not structurally broken.
# Then measured the gate on both runs' checkpoints (64 z, 16 px; real images 0.27): the TRAINED G
# passes it (per-pixel std across z and class 0.21 / 0.18, one class 0.17 / 0.13, mean colour
# near real's) while the EMA G, the one the previews and exports show, does not (0.09 for one
# class, greenish mean colour). With phases of 10k images and an EMA half-life of 10k images the
# average lags a whole phase behind each new block. EMA_HALF_LIFE (default PHASE / 10) fixes the
# ratio: a 9-min run with it (2499 steps of 32, at 64 px) gave the EMA G 0.12 for one class (the
# trained G 0.16), mean colour closer to real's but still too green; the previews are still blurry
# squares with a bright border. Not yet a checkpoint: longer phases and a look at the border next.
# 2026-12-01 (fourth session): PHASE=30000 (stopped after 23 min at 32 px, step 5885): D loss 2 ln 2 and
# the R1 term (D's squared input gradient on real images) fell 10x with every stage: 1.0 at 4 px,
# 0.08 at 8, 0.008 at 16, 0.0005 at 32; samples blurrier at 32 px than at 16. D trained alone on
# that checkpoint against its frozen G needed 40 steps (lr 1e-3) to reach 75 % accuracy: the
# 16-32-channel high-resolution D cannot keep up with G. New options: D twice as wide as G
# (D_FMAP_BASE=512: 128-128-128-64-32 channels at 4-64 px) and D's learning rate 2x G's (LR_D,
# two time-scale rule), PHASE=25000, in a new run folder. Stopped after 24 min at 32 px (fade-in):
# at 16 px D worked (R1 term 0.2-0.5, D loss 1.31), but in the 32 px fade-in D fell back to chance
# (R1 0.01) and the samples turned into purple mosaics. Both failure looks (colour drift, bright
# border) match what DiffAugment colour + zero-padded translation let through a weak D, and the
# bundled DCGAN-64 trained without DiffAugment: AUG= (none) and PHASE=20000 (64 px sooner), in a new
# run folder.
#
#   scripts/publish_progan_cpu.sh train     # (re)start or continue the run for MINUTES minutes
#   scripts/publish_progan_cpu.sh evaluate  # realism report next to the DCGAN and copy-paste
#   scripts/publish_progan_cpu.sh publish   # export, samples, card
set -euo pipefail
source "$(dirname "$0")/_run_state.sh"
RUN=${RUN:-$HOME/gan-runs/progan-64-wide-d-noaug}
DEST=${DEST:-model_cards/progan-ham10000-64}
NEW=${NEW:-$HOME/gan-runs/exports/progan-ham10000-64}
MINUTES=${MINUTES:-60}
PHASE=${PHASE:-20000}
LR_D=${LR_D:-0.002}
D_FMAP_BASE=${D_FMAP_BASE:-512}
AUG=${AUG-}
LOSS=${LOSS:-logistic-r1}
R1_GAMMA=${R1_GAMMA:-0.026}
EMA_HALF_LIFE=${EMA_HALF_LIFE:-$((PHASE / 10))}  # well inside a growth phase, or the average shows the previous stage
GA=${GA:-.venv/bin/gan-augment}
NETWORK=${NETWORK:-G}  # G: the moving average; G_train: the last iterate
REPORT=${REPORT:-reports/realism/ham10000-test-progan-64}
case "${1:-}" in
  train)
    resume_or_warm_start "$RUN"
    $GA train progan --data ../shared/data/ham10000 --split training --conditional --size 64 \
      --set fmap_base=256 --set fmap_max=128 --set latent_dim=128 --set phase_images="$PHASE" --set loss="$LOSS" --set r1_gamma="$R1_GAMMA" --set ema_half_life_images="$EMA_HALF_LIFE" \
      --set lr_d="$LR_D" --set d_fmap_base="$D_FMAP_BASE" \
      ${AUG:+--diffaugment "$AUG"} --steps "${STEPS:-20000}" --batch-size 32 --workers 1 \
      --sample-every 250 --checkpoint-every 250 --max-minutes "$MINUTES" --out "$RUN" "${RESUME[@]}"
    ;;
  evaluate)
    $GA export "$RUN" --to "$NEW" --network "$NETWORK" --dtype float16 --hub-id gan-augment/progan-ham10000-64 --license cc-by-nc-sa-4.0
    $GA evaluate "$NEW" dcgan-ham10000-64 --data ../shared/data/ham10000 --split test --size 64 --views whole \
      --baselines copy-paste-harmonized --bank-data ../shared/data/ham10000 --bank-split training --max-items 300 \
      --train-data ../shared/data/ham10000 --train-split training --out "$REPORT"
    ;;
  publish)
    rm -rf "$DEST" && cp -r "$NEW" "$DEST"
    .venv/bin/python examples/class_samples.py --model "$DEST" --data ../shared/data/ham10000 --split test --out "$DEST/samples.png"
    $GA card "$DEST" --realism "$REPORT" --candidate "$(basename "$NEW")" --baselines copy-paste-harmonized \
      --samples "$DEST/samples.png" --samples-caption "Rows: akiec, bcc, bkl, df, mel, nv, vasc. First column a random real held-out image of the class, then one column per seed; 64 px." \
      ${NOTES:+--notes "$NOTES"}
    mkdir -p snapshots
    $GA snapshot "$RUN" --to snapshots/progan-64.safetensors --ema-only
    ;;
  *) echo "usage: $0 train|evaluate|publish" >&2; exit 2 ;;
esac
