#!/usr/bin/env bash
# Issue #3's benchmark: our OpenAI-compatible backend against the plain load generator wrk, both
# sending the same POST /v1/chat/completions to one llama-server with N slots.
#   scripts/bench-http.sh [N] [bench_http options...]     (N: concurrency and slots, default 4)
# Installs wrk with apt-get when it is missing, starts llama-server on a free loopback port,
# checks one reply with curl, runs bench_http (which alternates its own runs with wrk's) and
# stops the server on exit. Prints figures; asserts nothing. Takes about 2 minutes by default.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="${HYPERALIGN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hyperalign}"
build_dir="${HYPERALIGN_BUILD_DIR:-$root/build}"
server="${HYPERALIGN_LLAMA_SERVER:-$cache/llama.cpp-v0.4.0/server-build/bin/llama-server}"
model=tests/fixtures/models/stories260K.gguf
# The model has no chat template; plain concatenation makes replies continue the user's story
# (shared/models/README.md) instead of stumbling over ChatML markers split into bytes.
template='{%- for message in messages -%}{{- message.content -}}'
template+='{%- if not loop.last -%}{{ "\n" }}{%- endif -%}{%- endfor -%}'

slots=4
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  slots=$1
  shift
fi

log() { printf '[bench-http] %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian package)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
for file in "$server" "$root/$model"; do
  [[ -e $file ]] || { log "missing $file: run scripts/setup.sh first"; exit 1; }
done
[[ -d $build_dir ]] || { log "no build in $build_dir: run scripts/setup.sh first"; exit 1; }
CCACHE_BASEDIR="$root" cmake --build "$build_dir" --target bench_http >/dev/null
bench="$build_dir/bin/bench_http"

# A port nothing answers on (a refused connection); the server fails loudly if it is taken since.
free_port() {
  local port
  for _ in {1..50}; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}
port=$(free_port)
base_url="http://127.0.0.1:$port/v1"

tmp=$(mktemp -d)
server_pid=
stop_server() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap stop_server EXIT

cd "$root"
"$server" -m "$model" --host 127.0.0.1 --port "$port" -t 2 -c $((2048 * slots)) -np "$slots" \
  --no-ui --chat-template "$template" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in {1..300}; do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    log "llama-server exited:"
    tail -20 "$tmp/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! curl -sf "http://127.0.0.1:$port/health" >/dev/null; then
  log "llama-server is not healthy after 30 s"
  exit 1
fi
log "llama-server pid $server_pid on port $port, $slots slots"

# One reply by hand, with the exact body wrk will send: it must run to max_tokens, not stop at
# EOS, or the two clients would not be doing the same work.
"$bench" --base-url "$base_url" --concurrency "$slots" "$@" --print-body >"$tmp/body.json"
reply=$(curl -sf -H 'Content-Type: application/json' --data-binary "@$tmp/body.json" \
  "$base_url/chat/completions")
echo "curl sample reply: $(grep -o '"completion_tokens":[0-9]*' <<<"$reply")," \
  "$(grep -o '"finish_reason":"[a-z]*"' <<<"$reply")"

# bench_http prints the machine's load before and after: other work on a 2-core machine skews it.
"$bench" --base-url "$base_url" --concurrency "$slots" "$@"
