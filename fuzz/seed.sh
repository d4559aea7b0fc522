#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from testdata/ and the shared external files, at run time.
#
#   fuzz/seed.sh [TARGET...]      (default: every target in fuzz/fuzz_targets)
#
# Each target takes its input in its own layout (see the comment at the top of each
# fuzz_targets/*.rs); the seeds are written in that layout. Files from
# ../shared/testdata/external (or $SYNCTAP_EXTERNAL) are copied into the corpus here and
# never committed. Seeds are named by content hash, so seeding twice adds nothing.
set -euo pipefail
fuzz="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$fuzz")"
external="${SYNCTAP_EXTERNAL:-$repo/../shared/testdata/external}"
[ -d "$external" ] || external="$repo/../../shared/testdata/external"
[ -d "$external" ] || external=""
if [ $# -eq 0 ]; then
  set -- $(cd "$fuzz/fuzz_targets" && ls *.rs | sed 's/\.rs$//')
fi
exec python3 - "$repo" "$external" "$@" <<'PY'
import hashlib, os, sys

repo, external, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
td = os.path.join(repo, "testdata")
MAX_SEED = 256 << 10  # larger files slow every run down; the fuzzer grows inputs itself


def files(folder, *exts):
    folder = os.path.join(td, folder) if not os.path.isabs(folder) else folder
    if not os.path.isdir(folder):
        return []
    out = []
    for root, _, names in os.walk(folder):
        if "snapshots" in root:
            continue
        for n in sorted(names):
            if not exts or n.endswith(exts):
                p = os.path.join(root, n)
                if os.path.getsize(p) <= MAX_SEED:
                    out.append(p)
    return sorted(out)


def ext(*parts):
    return os.path.join(external, *parts) if external else "/nonexistent"


def read(p):
    with open(p, "rb") as f:
        return f.read()


def split_headers(raw):
    """An fsshttp fixture: (content type, body) after its header block."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return b"", raw
    ct = b""
    for line in head.split(b"\r\n"):
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-type":
            ct = v.strip()
    return ct, body


def fsshttp_fixtures():
    return [split_headers(read(p)) for p in files("fsshttp", ".request", ".response")]


def seeds(target):
    if target == "fsshttp":
        for ct, body in fsshttp_fixtures():
            yield (b"\x02" if ct.startswith(b"multipart") else b"\x01") + body
            yield b"\x00" + body
    elif target == "fsshttpb":
        yield from map(read, files("fsshttpb", ".bin"))
        yield from map(read, files(ext("ms-openspecs"), ".bin"))
        yield from map(read, files(ext("interop-testsuites", "ONESTORE")))
        yield from map(read, files(ext("apache-tika"), ".one"))
        yield from map(read, files(ext("onenote.rs"), ".one", ".onetoc2"))
    elif target == "mtom":
        for ct, body in fsshttp_fixtures():
            yield ct + b"\n" + body
        for p in files("spfilesync", ".multipart"):
            yield b"multipart/related; boundary=b\n" + read(p)
    elif target == "intercept_edit":
        # side byte, content type, body, edited text (the fixtures' own head as the edit)
        for ct, body in fsshttp_fixtures():
            for side in (b"q", b"r"):
                yield side + ct + b"\x00" + body + b"\x00" + b"POST / HTTP/1.1\nX: y\n\n"
    elif target == "spfilesync":
        for p in files("spfilesync"):
            body = read(p)
            for sel in (0x01, 0x03, 0x05, 0x20, 0x40, 0x60, 0x80, 0xA0, 0xC0):
                yield bytes([sel]) + body
        for p in files(ext("interop-testsuites", "Proxy"), ".xsd"):
            yield b"\x01" + read(p)
    elif target == "dav":
        methods = {"propfind": b"PROPFIND", "proppatch": b"PROPPATCH", "lock": b"LOCK",
                   "search": b"SEARCH", "manifest": b"SEARCH"}
        for p in files("webdav", ".xml"):
            name = os.path.basename(p)
            method = next((m for k, m in methods.items() if name.startswith(k)), b"PROPFIND")
            head = method + b"\nhttps://contoso.example/sites/team/Shared%20Documents/\nDepth:1|Content-Type:text/xml\ntext/xml\n"
            body = read(p)
            yield head + body + b"\xff"
            yield head + b"\xff" + body
    elif target == "exchange":
        fx = fsshttp_fixtures()
        # Method POST, the cell storage URL, text/xml or MTOM both ways, no encoding, 200.
        for (ct, req), (_, resp) in zip(fx, fx[1:] + fx[:1]):
            ctsel = 0x12 if ct.startswith(b"multipart") else 0x09
            yield bytes([0, 0, ctsel, 0, 0x80]) + req + b"\xff" + resp
        for p in files("spfilesync"):
            yield bytes([1, 1, 0x24, 0, 0]) + b"\xff" + read(p)
        for p in files("webdav", ".xml"):
            yield bytes([3, 4, 0x39, 0, 1]) + read(p) + b"\xff" + read(p)
        for p in files("fsshttpb", ".bin"):
            yield bytes([0, 5, 0x36, 0, 0]) + read(p) + b"\xff"

    elif target == "protocol_actions":
        import struct
        stems = sorted({p[: p.rfind(".")] for p in files("fsshttp", ".request")})
        for stem in stems:
            if not os.path.exists(stem + ".response"):
                continue
            qct, q = split_headers(read(stem + ".request"))
            rct, r = split_headers(read(stem + ".response"))
            sel = (1 if qct.startswith(b"multipart") else 0) | ((1 if rct.startswith(b"multipart") else 0) << 2)
            for act in (0x00, 0x11, 0x23, 0x32, 0x40, 0x54, 0x06):
                yield bytes([sel, act]) + struct.pack("<I", len(q)) + q + r
    elif target == "saz_import":
        import io, zipfile
        fx = [read(p) for p in files("fsshttp", ".request", ".response")]
        reqs = [f for f, p in zip(fx, files("fsshttp", ".request", ".response")) if p.endswith(".request")]
        resps = [f for f, p in zip(fx, files("fsshttp", ".request", ".response")) if p.endswith(".response")]
        meta = (b'<?xml version="1.0" encoding="utf-8"?><Session SID="1" BitFlags="1"><SessionTimers '
                b'ClientBeginRequest="2026-11-21T10:00:00.0000000+01:00" ClientDoneResponse="2026-11-21T10:00:00.5000000+01:00"/>'
                b'<PipeInfo/><SessionFlags><SessionFlag N="x-processinfo" V="winword:7188"/></SessionFlags></Session>')
        for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            for i, (q, r) in enumerate(zip(reqs[:4], resps[:4])):
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w", method) as z:
                    z.writestr("[Content_Types].xml", b"<Types/>")
                    z.writestr("raw/01_c.txt", b"POST https://h/_vti_bin/cellstorage.svc/CellStorageService HTTP/1.1\r\n" + q)
                    z.writestr("raw/01_m.xml", meta)
                    z.writestr("raw/01_s.txt", b"HTTP/1.1 200 OK\r\n" + r)
                    z.writestr("raw/02_c.txt", b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n")
                    z.writestr("raw/02_s.txt", b"HTTP/1.1 200 Connection Established\r\n\r\n")
                data = buf.getvalue()
                yield data
                yield data[: len(data) * 2 // 3]
    elif target == "pcap_import":
        import struct
        def frame(src, dst, sport, dport, seq, flags, payload):
            tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0, bytes(src), bytes(dst))
            return b"\x02" * 6 + b"\x01" * 6 + b"\x08\x00" + ip + tcp + payload
        c, s = [10, 0, 0, 1], [10, 0, 0, 2]
        flows = [
            (True, 0x02, b""), (False, 0x12, b""),
            (True, 0x18, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
            (False, 0x18, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyzHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
            (True, 0x11, b""), (False, 0x11, b""),
        ]
        seqs = {True: 1000, False: 5000}
        recs = []
        for i, (up, flags, payload) in enumerate(flows):
            f = frame(c if up else s, s if up else c, 50000 if up else 80, 80 if up else 50000, seqs[up], flags, payload)
            seqs[up] += len(payload) + (1 if flags & 0x03 else 0)
            recs.append(struct.pack("<IIII", 1700000000, i * 1000, len(f), len(f)) + f)
        pcap = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) + b"".join(recs)
        yield pcap
        yield pcap[: len(pcap) - 20]
        yield struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1) + b"".join(recs[3:] + recs[:3])
    elif target == "rule_parse":
        yield b"~m PUT & ~u /Shared => delay 2s; set-request-header X-Debug: 1"
        yield b"~c 423 => status 409; times 1"
        yield b'~u "\\.docx$" => respond 404 /tmp/answer.txt; probability 50%'
        yield b"~t Coauth & ~client 3b6f => errorcode NumberOfCoauthorsReachedMax"
        yield b"~p FSSHTTP => replace /a;b/c\\/d/; throttle 256KiB/s; delay-response 1s"
        yield b"# comment\n\n~m GET => reset\n!(~c 2xx | ~e x) => remove-header ETag; upstream http://127.0.0.1:1\n"
    elif target == "har_import":
        import base64, json
        for p in files("fsshttp", ".request"):
            ct, body = split_headers(read(p))
            entry = {"startedDateTime": "2026-11-21T10:00:00Z", "time": 1,
                     "request": {"method": "POST", "url": "https://h/_vti_bin/cellstorage.svc/CellStorageService",
                                 "httpVersion": "HTTP/1.1", "headers": [{"name": "Content-Type", "value": ct.decode("latin-1")}],
                                 "postData": {"mimeType": ct.decode("latin-1"), "text": base64.b64encode(body).decode(), "encoding": "base64"}},
                     "response": {"status": 200, "statusText": "OK", "headers": [], "content": {"size": 2, "mimeType": "text/plain", "text": "ok"}},
                     "timings": {"send": 0, "wait": 1, "receive": 0}}
            yield json.dumps({"log": {"version": "1.2", "entries": [entry]}}).encode()


for target in targets:
    out = os.path.join(repo, "fuzz", "corpus", target)
    os.makedirs(out, exist_ok=True)
    n = 0
    for s in seeds(target):
        name = hashlib.sha1(s).hexdigest()
        path = os.path.join(out, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(s)
            n += 1
    print(f"{target}: {n} new seeds in {os.path.relpath(out, repo)}")
PY
