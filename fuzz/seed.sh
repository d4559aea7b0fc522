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
