#!/usr/bin/env bash
# Benchmark of `synctap import` (and `export --saz`): throughput (MB/s of input,
# exchanges/s written) and peak memory (max RSS) for a generated ~1 GB pcap and a
# 100,000-session SAZ. Needs python3
# and GNU time (/usr/bin/time); builds nothing (pass the binary, ideally a release build).
#   benches/import.sh target/release/synctap [PCAP_MB] [SAZ_SESSIONS]
set -euo pipefail
bin=$(realpath "${1:-target/release/synctap}")
mb=${2:-1024}
sessions=${3:-100000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 2; }

# The pcap: HTTP/1.1 keep-alive connections (a SOAP POST of 6 KB and a 60 KB response,
# in 1448-byte segments, ten exchanges per connection) until the file reaches PCAP_MB.
python3 - "$dir/big.pcap" "$mb" <<'PY'
import struct, sys
out, target = sys.argv[1], int(sys.argv[2]) << 20
def frame(src, dst, sport, dport, seq, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    return b"\x02" * 6 + b"\x01" * 6 + b"\x08\x00" + ip + tcp + payload
body = b"<s:Envelope>" + b"x" * 6000 + b"</s:Envelope>"
req = (b"POST /_vti_bin/cellstorage.svc/CellStorageService HTTP/1.1\r\nHost: farm.example\r\n"
       b"Content-Type: text/xml; charset=utf-8\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
rbody = b"y" * 60000
resp = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(rbody) + rbody
c, s = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
size, conn, ts = 24, 0, 1_700_000_000_000_000
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    def put(fr):
        global size, ts
        ts += 7
        f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(fr), len(fr)))
        f.write(fr)
        size += 16 + len(fr)
    while size < target:
        conn += 1
        port = 1024 + conn % 60000
        seq = {True: 1000, False: 5000}
        put(frame(c, s, port, 80, 999, 0x02, b""))
        put(frame(s, c, 80, port, 4999, 0x12, b""))
        for _ in range(10):
            for up, msg in ((True, req), (False, resp)):
                for i in range(0, len(msg), 1448):
                    piece = msg[i:i + 1448]
                    put(frame(c, s, port, 80, seq[up], 0x18, piece) if up else frame(s, c, 80, port, seq[up], 0x18, piece))
                    seq[up] += len(piece)
        put(frame(c, s, port, 80, seq[True], 0x11, b""))
        put(frame(s, c, 80, port, seq[False], 0x11, b""))
PY

# The SAZ: a capture of SESSIONS exchanges from the fsshttp fixtures, exported by synctap.
python3 - "$dir/big.jsonl" "$sessions" "$(dirname "$0")/../testdata/fsshttp" <<'PY'
import base64, json, os, sys
out, n, fx = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def split(p):
    raw = open(p, "rb").read()
    head, _, body = raw.partition(b"\r\n\r\n")
    hs = [l.split(b":", 1) for l in head.split(b"\r\n") if b":" in l]
    return [[k.strip().decode("latin-1"), v.strip().decode("latin-1")] for k, v in hs], body
def body(b):
    try:
        return {"len": len(b), "text": b.decode("utf-8")}
    except UnicodeDecodeError:
        return {"len": len(b), "base64": base64.b64encode(b).decode()}
names = sorted(f[:-len(".request")] for f in os.listdir(fx) if f.endswith(".request") and os.path.exists(os.path.join(fx, f[:-8] + ".response")))
pairs = [(split(os.path.join(fx, k + ".request")), split(os.path.join(fx, k + ".response"))) for k in names]
with open(out, "w") as f:
    f.write(json.dumps({"type": "header", "data": {"format": "synctap-capture", "version": 1, "created": "2026-11-21T10:00:00Z", "writer": "bench"}}) + "\n")
    for i in range(1, n + 1):
        (qh, qb), (rh, rb) = pairs[i % len(pairs)]
        x = {"id": i, "kind": "http", "connection_id": i // 8, "client_addr": "10.0.0.1:50000", "mode": "forward",
             "server": "contoso.example:443", "http_version": "HTTP/1.1",
             "request": {"method": "POST", "url": "https://contoso.example/_vti_bin/cellstorage.svc/CellStorageService", "headers": [["Host", "contoso.example"]] + qh, "body": body(qb)},
             "response": {"status": 200, "reason": "OK", "headers": rh, "body": body(rb)},
             "timings": {"start": "2026-11-21T10:%02d:%02d.%06dZ" % (i // 60000 % 60, i // 1000 % 60, i % 1000 * 1000), "done_ms": 12.5}}
        f.write(json.dumps({"type": "exchange", "data": x}, separators=(",", ":")) + "\n")
PY

run() { # label, input file, command...
  local label=$1 input=$2
  shift 2
  /usr/bin/time -f "%e %M" -o "$dir/time" "$@" >/dev/null 2>"$dir/log" || { cat "$dir/log" >&2; exit 1; }
  read -r secs kb <"$dir/time"
  local bytes
  bytes=$(stat -c %s "$input")
  local n
  n=$(grep -oE '\([0-9]+ (exchanges|sessions|entries)\)' "$dir/log" | tail -n 1 | tr -dc 0-9)
  python3 -c "import sys; s,kb,b,n=float(sys.argv[1]),int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[5] or 0); s=max(s,0.001); print('%-28s %8.1f MB in %6.1f s = %7.1f MB/s, %8.0f exchanges/s, peak RSS %6.1f MiB' % (sys.argv[4], b/1e6, s, b/1e6/s, n/s, kb/1024))" "$secs" "$kb" "$bytes" "$label" "$n"
  tail -n 3 "$dir/log" | sed 's/^/    /'
}

run "import pcap" "$dir/big.pcap" "$bin" import "$dir/big.pcap" --out "$dir/from-pcap.jsonl"
run "export --saz ($sessions)" "$dir/big.jsonl" "$bin" export "$dir/big.jsonl" --saz "$dir/big.saz"
run "import SAZ ($sessions)" "$dir/big.saz" "$bin" import "$dir/big.saz" --out "$dir/from-saz.jsonl"
