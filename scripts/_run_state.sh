# Sourced by the training scripts (not run on its own).
#
# resume_or_warm_start RUN [SNAPSHOT]: sets the array RESUME to (--resume) when RUN holds a
# checkpoint (this machine ran it before), else to (--warm-start SNAPSHOT) when that committed
# snapshot exists (a new machine: networks restored, optimisers fresh), else to () (a new run).
resume_or_warm_start() {
  RESUME=()
  if [ -f "$1/checkpoint.safetensors" ]; then
    RESUME=(--resume)
  elif [ -n "${2:-}" ] && [ -f "$2" ]; then
    RESUME=(--warm-start "$2")
    echo "no checkpoint in $1: warm start from $2" >&2
  fi
}
