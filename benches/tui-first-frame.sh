#!/usr/bin/env bash
# Benchmark of `synctap ui` on a generated 100,000-exchange capture: time to the first
# frame with rows, time until every exchange is indexed, and peak memory. Needs tmux and
# python3; builds nothing (pass the binary, ideally a release build).
#   benches/tui-first-frame.sh target/release/synctap [N]
set -euo pipefail
bin=$(realpath "${1:-target/release/synctap}")
n=${2:-100000}
dir=$(mktemp -d)
trap 'tmux -L synctap-bench kill-server 2>/dev/null || true; rm -rf "$dir"' EXIT

"$bin" --certs "$dir/certs" demo --no-ui --capture "$dir/demo.jsonl" >/dev/null
python3 - "$dir/demo.jsonl" "$dir/big.jsonl" "$n" <<'PY'
import datetime, json, sys
src = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[3])
ex = [json.loads(l) for l in src[1:]]
t0 = datetime.datetime(2026, 11, 1)
with open(sys.argv[2], "w") as out:
    out.write(src[0] + "\n")
    for i in range(1, n + 1):
        e = ex[(i - 1) % len(ex)]
        d = e["data"]
        d["id"] = i
        d["connection_id"] = d["connection_id"] % 100 + (i // len(ex)) * 100
        t = t0 + datetime.timedelta(milliseconds=i * 10)
        d["timings"]["start"] = t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        out.write(json.dumps(e, separators=(",", ":")) + "\n")
PY
size=$(du -h "$dir/big.jsonl" | cut -f1)
ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms)
tmux -L synctap-bench -f /dev/null new-session -d -s b -x 120 -y 40 "exec $bin ui $dir/big.jsonl"
pid=$(tmux -L synctap-bench display -p -t b '#{pane_pid}')
until tmux -L synctap-bench capture-pane -p -t b | grep -q 'CellStorageService'; do sleep 0.01; done
first=$(( $(ms) - t0 ))
until tmux -L synctap-bench capture-pane -p -t b | grep -q "$n exchanges" \
  && ! tmux -L synctap-bench capture-pane -p -t b | grep -q 'loading'; do sleep 0.1; done
full=$(( $(ms) - t0 ))
# Scrolling: 200 PageDowns, then End, must leave the UI responsive.
t1=$(ms)
for _ in $(seq 200); do tmux -L synctap-bench send-keys -t b PageDown; done
tmux -L synctap-bench send-keys -t b End
until tmux -L synctap-bench capture-pane -p -t b | grep -qE "$n +[0-9]{2}:[0-9]{2}"; do sleep 0.01; done
scroll=$(( $(ms) - t1 ))
hwm=$(grep VmHWM /proc/"$pid"/status | awk '{print $2}')
rss=$(grep VmRSS /proc/"$pid"/status | awk '{print $2}')
tmux -L synctap-bench send-keys -t b q
echo "capture: $n exchanges, $size"
echo "first frame with rows: ${first} ms"
echo "all exchanges indexed and decoded: ${full} ms"
echo "200 PageDown + End: ${scroll} ms"
echo "memory: peak ${hwm} kB, now ${rss} kB"
