#!/usr/bin/env bash
# Scale benchmark: peak memory (max RSS) and throughput (exchanges/s) of the commands
# that read a whole capture, at 200,000 and 1,000,000 exchanges (issue 17: <= 256 MiB
# peak at 1,000,000). The captures come from benches/gencapture.rs (MS-FSSHTTP
# SOAP/MTOM with Cell payloads, WebDAV, SPFileSync over 50 files). Needs GNU time
# (/usr/bin/time); builds nothing, pass the binaries (release builds):
#   cargo build --release --bin synctap --example gencapture
#   benches/scale.sh [target/release/synctap] [target/release/examples/gencapture] [COUNTS...]
# Each generated capture and each output is deleted as soon as it is measured; the
# largest moment holds one capture and one output (about 2 x 4 GB at 1,000,000).
# SCALE_DIR picks the scratch folder (default: a new one under $TMPDIR or /tmp).
set -euo pipefail
bin=$(realpath "${1:-target/release/synctap}")
gen=$(realpath "${2:-target/release/examples/gencapture}")
shift $(( $# < 2 ? $# : 2 ))
counts=("${@:-200000 1000000}")
# shellcheck disable=SC2206
counts=(${counts[*]})
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }
dir=$(mktemp -d "${SCALE_DIR:-${TMPDIR:-/tmp}}/synctap-scale.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# run NAME N OUT -- COMMAND...: runs the command under GNU time, prints one row.
run() {
    local name=$1 n=$2 out=$3
    shift 4
    local stats="$dir/time.txt"
    local rc=0
    /usr/bin/time -v -o "$stats" "$@" >"$out" 2>"$dir/stderr.txt" || rc=$?
    # Exit 1 is "ran and found something" (check's findings, diff's differences).
    if [ "$rc" -gt 1 ]; then
        echo "$name failed ($rc):" >&2
        tail -5 "$dir/stderr.txt" >&2
        return 1
    fi
    local kib secs
    kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$stats")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$stats" |
        awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    printf '%-22s %9d %10.1f %12.0f %12.1f\n' "$name" "$n" "$secs" \
        "$(awk -v n="$n" -v s="$secs" 'BEGIN { print (s > 0 ? n / s : 0) }')" \
        "$(awk -v k="$kib" 'BEGIN { print k / 1024 }')"
}

# room BYTES: whether the scratch folder's disk has BYTES plus 2 GB free.
room() {
    local free
    free=$(df --output=avail -B1 "$dir" | tail -1)
    [ "$free" -gt $(( $1 + (2 << 30) )) ]
}

printf '%-22s %9s %10s %12s %12s\n' command exchanges seconds exchanges/s "peak MiB"
for n in "${counts[@]}"; do
    capture="$dir/capture-$n.jsonl"
    "$gen" "$n" "$capture" >&2
    echo "capture: $(du -h "$capture" | cut -f1) for $n exchanges" >&2
    size=$(stat -c %s "$capture")
    # Outputs go to a file when the disk has room for one more capture-sized file (plus
    # 2 GB), else to /dev/null (memory and throughput are the same; disk is limited).
    har="$dir/out.har"
    room "$size" || har=/dev/null
    run "export --har" "$n" /dev/null -- "$bin" export "$capture" --har "$har"
    [ "$har" = /dev/null ] || { echo "  HAR: $(du -h "$har" | cut -f1)" >&2; rm -f "$har"; }
    run "timeline" "$n" /dev/null -- "$bin" timeline "$capture"
    run "timeline --json" "$n" /dev/null -- "$bin" timeline "$capture" --json
    run "check" "$n" /dev/null -- "$bin" check "$capture"
    run "show --json" "$n" /dev/null -- "$bin" show --json "$capture"
    run "show" "$n" /dev/null -- "$bin" show "$capture"
    if room "$size"; then
        run "redact" "$n" /dev/null -- "$bin" redact "$capture" --out "$dir/redacted.jsonl"
        rm -f "$dir/redacted.jsonl"
    else
        echo "redact: skipped, no room on disk for a second $size-byte capture" >&2
    fi
    run "diff (same capture)" "$n" /dev/null -- "$bin" diff "$capture" "$capture"
    rm -f "$capture"
done
