#!/usr/bin/env bash
# How the bundled Mask2Lesion checkpoints were trained on a GPU lent through the team's
# device tool: one or more pix2pix variants trained side by side on the ISIC 2017 training
# images at 128 px, each given as "name|extra options", e.g.
#   scripts/train_mask2lesion_gpu.sh "c|--set norm=instance --set d_norm=instance --set lambda_l1=10 --set upsample=resize"
# A short throughput measurement of all variants together sets the number of epochs so that
# they finish inside TRAIN_SECONDS. Results (fp16 exports split in parts, logs, sample grids)
# go to $OUT; rejoin a model with `cat model-<name>.safetensors.part-* > model.safetensors`.
#
# Sessions so far (all: ngf 32, ISIC 2017 training, seed 0; KID ratio = KID(synthetic, val) /
# KID(300 real train, val), examples/evaluate_mask2lesion.py):
#   1  BatchNorm, batch 16, L1 x100, with / without DiffAugment, 120 epochs: 18.3x / 27.5x
#   2  InstanceNorm, batch 32, L1 x100 / x10, 216 epochs: 18.0x / 17.4x (the x10 run is bundled)
set -euo pipefail
DATA=${DATA:-.gpu/isic2017}
OUT=${OUT:-outputs/gpu}
RUNS=${RUNS:-runs}
TRAIN_SECONDS=${TRAIN_SECONDS:-420}
SIZE=${SIZE:-128}
NGF=${NGF:-32}
BATCH=${BATCH:-32}
WORKERS=${WORKERS:-6}
BENCH_STEPS=${BENCH_STEPS:-200}
EXTRA=${EXTRA:-}
[ $# -ge 1 ] || { echo "usage: $0 'name|options' ['name|options' ...]" >&2; exit 2; }
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RUNS"
train() { python3 -m gan_augment.cli train pix2pix --data "$DATA" --size "$SIZE" --set ngf="$NGF" --batch-size "$BATCH" --workers "$WORKERS" --seed 0 $EXTRA "$@"; }
(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no GPU") > "$RUNS/device.txt"

# 1) throughput of all variants together (the first logged interval is warm-up and excluded)
for v in "$@"; do
  name=${v%%|*}; opts=${v#*|}
  rm -rf "$RUNS/bench-$name"
  train --steps "$BENCH_STEPS" --out "$RUNS/bench-$name" --sample-every 100000 --checkpoint-every 100000 $opts >"$RUNS/bench-$name.log" 2>&1 &
done
wait
EPOCHS=$(python3 - "$TRAIN_SECONDS" "$RUNS" "$@" <<'PY'
import json, sys
budget, runs, variants = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
rates = []
for v in variants:
    rows = [json.loads(l) for l in open(f"{runs}/bench-{v.split('|')[0]}/log.jsonl")]
    rates.append((rows[-1]["step"] - rows[0]["step"]) / max(rows[-1]["seconds"] - rows[0]["seconds"], 1e-6))
spe = json.load(open(f"{runs}/bench-{variants[0].split('|')[0]}/config.json"))["steps_per_epoch"]
epochs = int(min(rates) * budget / spe)
print(max(1, min(epochs, 1000)))
print(f"steps/s per run: {[round(r, 2) for r in rates]}; steps/epoch {spe}; epochs {epochs}", file=sys.stderr)
PY
)
echo "epochs=$EPOCHS" | tee -a "$RUNS/device.txt"

# 2) the trainings, side by side
MAXMIN=$(python3 -c "print(round($TRAIN_SECONDS/60 + 1.5, 1))")
for v in "$@"; do
  name=${v%%|*}; opts=${v#*|}
  train --epochs "$EPOCHS" --out "$RUNS/m2l-$name" --sample-every 2500 --checkpoint-every 2500 --max-minutes "$MAXMIN" $opts >"$RUNS/train-$name.log" 2>&1 &
done
wait

# 3) fp16 exports, split into parts small enough to travel back
for v in "$@"; do
  name=${v%%|*}
  python3 -m gan_augment.cli export "$RUNS/m2l-$name" --to "$RUNS/export-$name" --dtype float16 --hub-id gan-augment/mask2lesion-isic2017-128
  split -b 12m "$RUNS/export-$name/model.safetensors" "$OUT/model-$name.safetensors.part-"
  sha256sum "$RUNS/export-$name/model.safetensors" > "$RUNS/export-$name/model.sha256"
  tar czf "$OUT/meta-$name.tar.gz" -C "$RUNS" device.txt "train-$name.log" "bench-$name.log" "m2l-$name/config.json" "m2l-$name/log.jsonl" "m2l-$name/samples" "export-$name"/config.json "export-$name"/README.md "export-$name"/model.sha256
  tail -c 300 "$RUNS/train-$name.log"; echo
done
