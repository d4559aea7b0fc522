#!/usr/bin/env bash
# Seeds fuzz/corpus/capture_line (git-ignored) at run time: the lines of a capture
# recorded by `synctap demo`, chunk + exchange line pairs holding every body in
# testdata/ and ../shared/testdata/external, and a few hand-made torn and bad lines.
# Usage: fuzz/seed-capture-line.sh [SYNCTAP_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/synctap}
out=fuzz/corpus/capture_line
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Mode byte 0: the reader puts a header in front; 1: the bytes are the whole file.
seed() { # MODE-BYTE NAME < content
  { printf "\\x$1"; cat; } >"$out/$2"
}

"$bin" --certs "$tmp/certs" demo --no-ui --capture "$tmp/demo.jsonl" >/dev/null
n=0
while IFS= read -r line; do
  n=$((n + 1))
  printf '%s\n' "$line" | seed 00 "demo-line-$n"
done < <(tail -n +2 "$tmp/demo.jsonl")
head -n 3 "$tmp/demo.jsonl" | seed 01 demo-head
head -n 2 "$tmp/demo.jsonl" | { cat; printf '{"type":"exchange","data":{"id":'; } | seed 01 demo-torn

i=0
while IFS= read -r f; do
  i=$((i + 1))
  b64=$(base64 -w0 <"$f")
  len=$(wc -c <"$f")
  {
    printf '{"type":"chunk","data":{"exchange":1,"side":"request","offset":0,"base64":"%s"}}\n' "$b64"
    printf '{"type":"exchange","data":{"id":1,"kind":"http","connection_id":1,"client_addr":"127.0.0.1:1","mode":"forward","server":"h:443","http_version":"HTTP/1.1","request":{"method":"POST","url":"https://h/x","headers":[],"body":{"len":%s,"chunked":true,"stored":%s}},"timings":{"start":"2026-11-21T00:00:00Z"}}}\n' "$len" "$len"
  } | seed 00 "testdata-$i"
done < <(find testdata ../shared/testdata/external -type f -size -32k 2>/dev/null | sort | head -n 400)
printf '{"type":"header","data":{"format":"synctap-capture","version":1,"created":"x","writer":"y"}}\n\xff\xfe\n{"type":"chunk","data":{"exchange":1,"side":"request","offset":0,"base64":"!!"}}\n' | seed 01 bad-lines
echo "seeded $(ls "$out" | wc -l) inputs in $out"
