#!/usr/bin/env bash
# The main job: learn one CCAT50 author's profile from their real articles and write a new
# article as them, with the model named by $MODEL (default: the tiny test model, which writes
# nonsense but runs every real code path). Writes out/profile.json and out/generated.jsonl.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
model="${MODEL:-$root/tests/fixtures/models/stories260K.gguf}"
author="${AUTHOR:-FumikoFujisaki}"
out="${OUT:-$root/out}"
mkdir -p "$out"

"$root/build/bin/hyperalign" personalize \
  --model "$model" ${CTX:+--ctx "$CTX"} \
  --examples ccat50 --author "$author" \
  --profile-out "$out/profile.json" --run-log "$out/run.json" \
  --max-tokens "${MAX_TOKENS:-256}" --json --text-out "$out/generated.jsonl" \
  "Write an article that starts with the following: Japan's biggest carmakers said on Tuesday they would raise output at their overseas plants next year."

echo "profile:   $out/profile.json"
echo "generated: $out/generated.jsonl"
echo "run log:   $out/run.json"
