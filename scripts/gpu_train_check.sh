#!/usr/bin/env bash
# Training throughput on a GPU (issue 25): one prepared check for a lent machine.
#
#   bash scripts/gpu_train_check.sh prepare   # here, once: photos + recipe into artifacts/gpu-carry/
#   bash scripts/gpu_train_check.sh           # on the GPU machine (carry artifacts/gpu-carry)
#
# The GPU machine is bare (torch, typer, rich, safetensors, scipy, pillow, onnx) and has no
# ../shared, so `prepare` re-encodes the training photos (JPEG q95, at most 1024 px, ~25 MiB)
# into the ignored folder artifacts/gpu-carry/ with a nano recipe that trains on them. The run
# then, from source (PYTHONPATH=.):
#   1. checks the device degradations against the CPU's (torch JPEG == Pillow, bit for bit; the
#      device tests of tests/test_degradations.py when pytest is there) and times the JPEG round
#      trip both ways and the whole apply_plan on a batch (the measurement behind the choice);
#   2. benchmarks/train_throughput.py for nano (batch 128) and edge (batch 64), HR crops 128;
#   3. a short nano training run with the real CLI (batch 32, as the issue's 130-150 img/s run).
# Everything lands in $OUT (5 files): env.txt, jpeg.json, throughput_nano.json,
# throughput_edge.json, train_log.jsonl; the console output is the log.
#
# Knobs (environment): DEVICE (cuda), STEPS (30 per stage), BATCH_NANO (128), BATCH_EDGE (64),
# TRAIN_BATCH (32), TRAIN_MINUTES (2), OUT (artifacts/gpu-check), CARRY (artifacts/gpu-carry).
# A CPU dry run of the whole thing: DEVICE=cpu STEPS=2 BATCH_NANO=2 BATCH_EDGE=2 TRAIN_BATCH=2 \
#   TRAIN_MINUTES=0.3 bash scripts/gpu_train_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
CARRY=${CARRY:-artifacts/gpu-carry}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-30}
OUT=${OUT:-artifacts/gpu-check}
PY=${PYTHON:-python}

if [[ "${1:-run}" == prepare ]]; then
  "$PY" - "$CARRY" <<'EOF'
import json, shutil, sys
from pathlib import Path
from PIL import Image
from toolchain.data.datasets import list_images
carry = Path(sys.argv[1])
shutil.rmtree(carry, ignore_errors=True)
(carry / "train").mkdir(parents=True)
shared = Path("../shared")
for i, path in enumerate(list_images(shared / "data" / "train")):
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
        im.save(carry / "train" / f"{i:03d}-{path.stem}.jpg", quality=95)
shutil.copy(shared / "metrics" / "niqe_pris_params.npz", carry)
recipe = json.loads(Path("models/nano/recipe.json").read_text())
recipe |= {"train_data": ["train"], "holdout": 8, "val_images": 8, "val_niqe": "niqe_pris_params.npz"}
(carry / "nano-recipe.json").write_text(json.dumps(recipe, indent=2))
size = sum(p.stat().st_size for p in carry.rglob("*") if p.is_file())
print(f"{carry}: {len(list(carry.glob('train/*')))} photos, {size / 2**20:.1f} MiB")
EOF
  exit 0
fi

[[ -f "$CARRY/nano-recipe.json" ]] || { echo "error: $CARRY is missing; run: bash $0 prepare"; exit 1; }
mkdir -p "$OUT"
{ date -u; "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  nproc; } > "$OUT/env.txt"
cat "$OUT/env.txt"

echo "== 1. device degradations against the CPU's, JPEG timing"
"$PY" - "$DEVICE" "$OUT/jpeg.json" <<'EOF'
import json, sys, time
import torch
from toolchain.data import degradations as deg
device, out = torch.device(sys.argv[1]), sys.argv[2]
g = torch.Generator().manual_seed(0)
img = torch.nn.functional.avg_pool2d(torch.rand(32, 3, 128, 128, generator=g), 3, 1, 1)
quality = torch.randint(60, 96, (32,), generator=g)
pillow = deg.jpeg(img, quality)
same = torch.equal(deg.jpeg(img.to(device), quality, deg.JpegCodec.TORCH).cpu(), pillow)
def per_batch_ms(fn, x):
    fn(x)
    if device.type == "cuda": torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(5): fn(x)
    if device.type == "cuda": torch.cuda.synchronize()
    return (time.perf_counter() - start) / 5 * 1000
x = img.to(device)
result = {"device": device.type, "batch": "32x3x128x128", "torch_equals_pillow": same,
          "pillow_round_trip_ms": per_batch_ms(lambda t: deg.jpeg(t, quality), x),
          "torch_jpeg_ms": per_batch_ms(lambda t: deg.jpeg(t, quality, deg.JpegCodec.TORCH), x)}
plan = deg.draw_plan(deg.DegradationConfig.realesrgan_stablesr(), 32, (128, 128), g, 4)
pixel_gen = torch.Generator(device=device).manual_seed(0)
result["apply_plan_ms"] = per_batch_ms(lambda t: deg.apply_plan(t, plan, pixel_gen), x)
print(json.dumps(result))
json.dump(result, open(out, "w"), indent=2)
sys.exit(0 if same else 1)
EOF

if "$PY" -c "import pytest" 2>/dev/null; then  # the same checks as tests, on this device too
  "$PY" -m pytest tests/test_degradations.py -q -p no:cacheprovider -k "device or torch_jpeg or codec" || true
fi

echo "== 2. benchmarks/train_throughput.py"
for spec in "nano ${BATCH_NANO:-128}" "edge ${BATCH_EDGE:-64}"; do
  read -r preset batch <<< "$spec"
  "$PY" benchmarks/train_throughput.py --preset "$preset" --batch-size "$batch" --steps "$STEPS" \
    --device "$DEVICE" --data "$CARRY/train" --json --label "scripts/gpu_train_check.sh" \
    > "$OUT/throughput_$preset.json"
  "$PY" -c "import json,sys; [print(r['preset'], r['batch_size'], r['stage'], round(r['img_per_s'], 1), 'img/s, data', round(r['data_frac'], 3), 'peak', r['peak_memory_gib'], 'GiB') for r in json.load(open(sys.argv[1]))['records']]" "$OUT/throughput_$preset.json"
done

echo "== 3. a short nano training run (toolchain train, batch ${TRAIN_BATCH:-32})"
RUN=$(mktemp -d)
"$PY" - "$CARRY/nano-recipe.json" "$RUN/recipe.json" "${TRAIN_BATCH:-32}" "$PWD/$CARRY" <<'EOF'
import json, sys
recipe = json.load(open(sys.argv[1]))
recipe |= {"train_data": [sys.argv[4] + "/train"], "val_niqe": sys.argv[4] + "/niqe_pris_params.npz"}
for stage in recipe["stages"]:
    stage["batch_size"] = int(sys.argv[3])
json.dump(recipe, open(sys.argv[2], "w"))
EOF
"$PY" -m toolchain.cli.main train --recipe "$RUN/recipe.json" -o "$RUN/run" --device "$DEVICE" \
  --max-minutes "${TRAIN_MINUTES:-2}" --json
cp "$RUN/run/log.jsonl" "$OUT/train_log.jsonl"
tail -n 3 "$OUT/train_log.jsonl"
rm -rf "$RUN"
echo "done: $OUT"
