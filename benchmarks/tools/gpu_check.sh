#!/usr/bin/env bash
# The GPU path end to end, in a few minutes on one CUDA GPU: fit ~300 steps of real CoLA with the
# packaged MiniLM (no --trainer.precision / --data.pad_to_multiple_of given: the CUDA defaults,
# bf16-mixed and padding to multiples of 8, must apply), validate the best checkpoint, predict the
# test set, export, load the export on the GPU, and resume from last.ckpt. One PASS/FAIL line per step;
# exit status 1 if any failed. Logs of every step are kept in the work folder.
#
# Usage: benchmarks/tools/gpu_check.sh [WORK_DIR [FIT_OPTIONS...]]
#   GLUE_DIR: GLUE folder (required); STEPS: fit steps (300), then resumed to 4/3 of it.
#   ACCELERATOR=cpu runs the whole sequence on the CPU in bf16-mixed (fused AdamW, clipping at 1.0),
#   the precision path a GPU takes, e.g.:
#   GLUE_DIR=~/glue_data ACCELERATOR=cpu STEPS=30 benchmarks/tools/gpu_check.sh /tmp/gpu_check --data.train_subset 320 --trainer.max_epochs 9
set -uo pipefail
cd "$(dirname "$0")/../.."
WORK=$(realpath -m "${1:-gpu_check}")
shift $(( $# > 0 ? 1 : 0 ))
STEPS=${STEPS:-300}
MORE=$(( STEPS * 4 / 3 ))
[ -n "${GLUE_DIR:-}" ] || { echo "gpu_check.sh: error: set GLUE_DIR to a folder in the GLUE layout" >&2; exit 2; }
GLUE_DIR=$(realpath -m "$GLUE_DIR")
ACCELERATOR=${ACCELERATOR:-gpu}
# On a CPU the bf16-mixed steps are asked for; on a GPU they are the default, which is checked below.
precision=(); [ "$ACCELERATOR" = cpu ] && precision=(--trainer.precision bf16-mixed)
mkdir -p "$WORK"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 GLUE_LIT_CACHE="$WORK/cache"
failed=0
check() {  # check NAME COMMAND...: run COMMAND (a test), print PASS/FAIL NAME
    local name=$1; shift
    if "$@" >>"$WORK/checks.log" 2>&1; then echo "PASS $name"; else echo "FAIL $name (see $WORK)"; failed=1; fi
}
run() {  # run NAME ARGS...: python -m glue_lit ARGS into WORK/NAME.out and .err
    local name=$1; shift
    python -m glue_lit "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
}
common=(--config configs/cola.yaml --config configs/minilm.yaml --data.data_dir "$GLUE_DIR"
        --trainer.logger.init_args.save_dir "$WORK/runs" --trainer.accelerator "$ACCELERATOR"
        --trainer.devices 1 --trainer.val_check_interval 0.5 "${precision[@]}"
        --early_stopping.patience 100 "$@")  # the check is of the path, not of when to stop

[ "$ACCELERATOR" = cpu ] || check "cuda visible" python -c "import torch; assert torch.cuda.is_available(); print(torch.cuda.get_device_name())"

# 268 steps an epoch (8,551 rows, batch 32): validated at half and end of epoch 1, stopped at step 300.
check "fit $STEPS steps (bf16-mixed)" run fit fit "${common[@]}" --trainer.max_steps "$STEPS"
RUN="$WORK/runs/cola/version_0"
check "fit: bf16-mixed (CUDA: 16-mixed without bf16) and pad_to_multiple_of 8 on CUDA, 1 on CPU" python - "$RUN" "$ACCELERATOR" <<'EOF'
import sys, yaml, torch
config = yaml.safe_load(open(f"{sys.argv[1]}/config.yaml"))
cpu = sys.argv[2] == "cpu"
want = "bf16-mixed" if cpu or torch.cuda.is_bf16_supported(including_emulation=False) else "16-mixed"
print(config["trainer"]["precision"], config["data"]["pad_to_multiple_of"], config["trainer"]["gradient_clip_val"])
assert config["trainer"]["precision"] == want and config["data"]["pad_to_multiple_of"] == (1 if cpu else 8)
assert config["trainer"]["gradient_clip_val"] == 1.0 and config["model"]["fused_adamw"] is True
EOF
check "fit: progress lines, validations, loss going down, best checkpoint" python - "$WORK/fit.out" "$RUN" <<'EOF'
import pathlib, re, sys
out = open(sys.argv[1]).read()
print(out[-2000:])
assert len(re.findall(r"^epoch 1/\d+  step ", out, re.M)) >= 4
assert len(re.findall(r"^validation epoch .* val/mcc ", out, re.M)) >= 2
losses = [float(x) for x in re.findall(r"^epoch .* train/loss (\S+) ", out, re.M)]
assert losses[-1] < losses[0], losses  # it learns (CoLA starts near ln 2 = 0.69)
best = re.search(r"^best val/mcc (\S+): (\S+)$", out, re.M)
assert pathlib.Path(best[2]).is_file() and pathlib.Path(sys.argv[2], "checkpoints/last.ckpt").is_file()
EOF
BEST=$(sed -n 's/^best val\/mcc [^ ]*: //p' "$WORK/fit.out")

check "validate the best checkpoint (same MCC as in fit)" run validate validate "${common[@]}" --ckpt_path "$BEST"
check "validate: MCC equals the fit's best" python - "$WORK/fit.out" "$WORK/validate.out" <<'EOF'
import re, sys
fit = float(re.search(r"^best val/mcc (\S+):", open(sys.argv[1]).read(), re.M)[1])
val = float(re.search(r"val/mcc[^\d-]+(-?[\d.]+)", open(sys.argv[2]).read())[1])
print(fit, val)
assert abs(fit - val) < 0.01  # bf16 kernels may round differently: one flipped row moves MCC ~0.003
EOF

check "predict the test set" run predict predict "${common[@]}" --ckpt_path "$BEST" \
    --predictions.output_dir "$WORK/predictions"
check "predict: CoLA.tsv with every test row" python - "$WORK/predictions/CoLA.tsv" "$GLUE_DIR/CoLA/test.tsv" <<'EOF'
import sys
rows, test = open(sys.argv[1]).read().splitlines(), open(sys.argv[2]).read().splitlines()
print(len(rows), len(test))
assert rows[0] == "index\tprediction" and len(rows) == len(test) and {r.split("\t")[1] for r in rows[1:]} <= {"0", "1"}
EOF

check "export" run export export --ckpt_path "$BEST" --out "$WORK/exported"
check "export: loads with transformers.pipeline on the $ACCELERATOR" python - "$WORK/exported" "$ACCELERATOR" <<'EOF'
import sys
from transformers import pipeline
out = pipeline("text-classification", model=sys.argv[1], device=-1 if sys.argv[2] == "cpu" else 0)(["The book was written by John.", "Book the was by John written."])
print(out)
assert all(o["label"] in ("acceptable", "unacceptable") for o in out)
EOF

# Resume: the newest last.ckpt (step STEPS), continued to step MORE in a new version folder.
check "resume from last.ckpt" run resume fit "${common[@]}" --trainer.max_steps "$MORE" --ckpt_path last
check "resume: continued from step $STEPS to $MORE" python - "$WORK/resume.out" "$WORK/resume.err" "$STEPS" "$MORE" <<'EOF'
import re, sys
out, err = open(sys.argv[1]).read(), open(sys.argv[2]).read()
steps = [int(s) for s in re.findall(r"^epoch \d+/\d+  step (\d+)/", out, re.M)]
print(steps, err[-1500:])
assert steps and min(steps) > int(sys.argv[3]) and max(steps) == int(sys.argv[4])
EOF

exit $failed
