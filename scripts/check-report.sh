#!/usr/bin/env bash
# Opens DIR/report.html (written by eval::write_report) in headless Chromium and checks it:
#   1. saves a screenshot as DIR/report.png (1280x2400),
#   2. reads <body data-charts-rendered data-charts-expected> from the DOM after load,
#   3. collects console errors (console.error/assert, uncaught exceptions, failed loads) through
#      the DevTools protocol over a pipe: Chromium's stderr log prints every console message at
#      the same level, so it cannot tell an error from a log line.
# Exits 0 only when rendered == expected > 0 and there is no console error; prints one line
# saying what it found (and the console errors, if any, after it). Exit 2 on bad usage or when
# Chromium or Python is missing.
set -euo pipefail

if [[ $# -ne 1 || ! -f "$1/report.html" ]]; then
  echo "usage: $0 DIR  (DIR holds report.html)" >&2
  exit 2
fi
dir=$(cd "$1" && pwd)
page="file://$dir/report.html"
chromium_bin=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
python_bin=$(command -v /usr/bin/python3 || command -v python3 || true)
if [[ -z "$chromium_bin" || -z "$python_bin" ]]; then
  echo "check-report: needs chromium and python3 (scripts/setup.sh installs them)" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work" 2>/dev/null || true' EXIT

# Flags for a headless machine without a GPU, a D-Bus session or network access.
browser() {
  local profile
  profile=$(mktemp -d "$work/profile.XXXXXX")
  timeout 60 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" "$@"
}

rm -f "$dir/report.png"
browser --screenshot="$dir/report.png" --window-size=1280,2400 "$page" \
  >"$work/screenshot.log" 2>&1 || true
if [[ ! -s "$dir/report.png" ]]; then
  echo "check-report: FAIL: no screenshot written ($dir/report.png)"
  tail -5 "$work/screenshot.log" >&2
  exit 1
fi

browser --dump-dom "$page" >"$work/dom.html" 2>"$work/dom.log" || true
body=$(grep -o '<body[^>]*>' "$work/dom.html" | head -1 || true)
rendered=$(sed -n 's/.*data-charts-rendered="\([0-9]*\)".*/\1/p' <<<"$body")
expected=$(sed -n 's/.*data-charts-expected="\([0-9]*\)".*/\1/p' <<<"$body")
rendered=${rendered:-0}
expected=${expected:-0}

# The DevTools client: Chromium reads NUL-terminated JSON commands on fd 3 and writes replies
# and events on fd 4. It opens the page, waits for the load event plus a short grace period,
# and prints one console error per line.
cat >"$work/console.py" <<'PY'
import fcntl, json, os, select, subprocess, sys, time

page, chromium, profile = sys.argv[1:4]
# Move the pipe ends above 9 first: os.pipe may hand out 3 and 4 themselves.
def high(fd):
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved

to_browser_r, to_browser_w = map(high, os.pipe())
from_browser_r, from_browser_w = map(high, os.pipe())
os.dup2(to_browser_r, 3)
os.dup2(from_browser_w, 4)
proc = subprocess.Popen(
    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
     "--no-first-run", "--disable-background-networking", "--disable-component-update",
     "--disable-sync", "--user-data-dir=" + profile, "--remote-debugging-pipe",
     "--window-size=1280,2400", "about:blank"],
    pass_fds=(3, 4), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL)
os.close(3); os.close(4); os.close(to_browser_r); os.close(from_browser_w)
deadline = time.monotonic() + 45
buffer = b""
next_id = 0
errors = []

def send(method, params=None, session=None):
    global next_id
    next_id += 1
    message = {"id": next_id, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    os.write(to_browser_w, json.dumps(message).encode() + b"\0")
    return next_id

def note(event):
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        parts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
        errors.append("console.%s: %s" % (params["type"], " ".join(parts)))
    elif method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        text = details.get("exception", {}).get("description") or details.get("text", "")
        errors.append("exception: " + text.splitlines()[0] if text else "exception")
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        errors.append("%s: %s %s" % (entry.get("source"), entry.get("text"), entry.get("url", "")))

def read_until(predicate, until):
    global buffer
    while time.monotonic() < until:
        while b"\0" in buffer:
            raw, buffer = buffer.split(b"\0", 1)
            message = json.loads(raw)
            note(message)
            if predicate(message):
                return message
        ready, _, _ = select.select([from_browser_r], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            break
        chunk = os.read(from_browser_r, 1 << 16)
        if not chunk:
            break
        buffer += chunk
    return None

def call(method, params=None, session=None):
    call_id = send(method, params, session)
    reply = read_until(lambda m: m.get("id") == call_id, deadline)
    if reply is None or "error" in reply:
        raise RuntimeError("%s failed: %s" % (method, reply and reply.get("error")))
    return reply.get("result", {})

status = 0
try:
    target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Page"):
        call(domain + ".enable", session=session)
    call("Page.navigate", {"url": page}, session)
    if read_until(lambda m: m.get("method") == "Page.loadEventFired", deadline) is None:
        errors.append("page did not finish loading")
    read_until(lambda m: False, min(deadline, time.monotonic() + 0.5))
    send("Browser.close")
except Exception as e:  # a broken session is a failed check, reported like a console error
    errors.append("devtools: %s" % e)
    status = 1
finally:
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
for e in errors:
    print(e.replace("\n", " "))
sys.exit(status)
PY
console_status=0
timeout 60 "$python_bin" "$work/console.py" "$page" "$chromium_bin" \
  "$(mktemp -d "$work/profile.XXXXXX")" >"$work/console.txt" 2>&1 || console_status=$?
console_errors=$(grep -c . "$work/console.txt" || true)

summary="rendered $rendered/$expected charts, $console_errors console errors"
summary+=", screenshot $dir/report.png"
if [[ $console_status -eq 0 && $console_errors -eq 0 && $expected -gt 0 &&
      $rendered -eq $expected ]]; then
  echo "check-report: ok: $summary"
  exit 0
fi
echo "check-report: FAIL: $summary"
sed 's/^/  /' "$work/console.txt" | head -20
exit 1
