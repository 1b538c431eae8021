#!/bin/sh
# Tune Ultralytics YOLO (pip install 'hyperseal[examples]') on a COCO folder, offline, on CPU.
#   sh examples/ultralytics_yolo/tune.sh COCO_FOLDER RUN_DIR
set -eu
data=${1:?COCO dataset folder}
run=${2:?new run folder}
here=$(dirname "$0")
hyperseal data export-yolo "$data" --out "$run-yolo-data"
# A private settings folder per tuning, so Ultralytics writes nothing to ~/.config.
export YOLO_CONFIG_DIR="$run-yolo-settings"
hyperseal tune \
  --command "yolo train cfg={config.yaml} data=$run-yolo-data/data.yaml model=yolov8n.yaml
             epochs=3 imgsz=64 batch=4 device=cpu workers=0 plots=False
             project={trial_dir}/yolo name=train exist_ok=True" \
  --metrics-file yolo/train/results.csv --metric 'metrics/mAP50-95(B)' \
  --space "$here/space.yaml" --epochs 3 --budget 12 --out "$run"
