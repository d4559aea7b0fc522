#!/usr/bin/env python3
"""Replicates a capture's exchanges into a larger capture, for measuring commands at size:
`python3 benches/replicate.py SOURCE.jsonl N OUT.jsonl` writes N exchanges, copies of
SOURCE's exchange lines in order with fresh ids (1..N) and starts shifted by 10 minutes
per copy, so timelines see one session after another. With the demo capture as SOURCE
(`synctap demo --no-ui --capture demo.jsonl`), the mix is the demo's: MS-FSSHTTP
SOAP/MTOM with Cell payloads, WebDAV and SPFileSync (about 3.7 KB per exchange).
Exchanges whose bodies were written as separate chunk lines are not copied."""
import datetime
import json
import sys

src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(src) as f:
    lines = f.read().splitlines()
header, templates = lines[0], []
for line in lines[1:]:
    record = json.loads(line)
    if record.get("type") != "exchange":
        continue
    data = record["data"]
    start = datetime.datetime.fromisoformat(data["timings"]["start"].replace("Z", "+00:00"))
    data["id"] = "@@ID@@"
    data["timings"]["start"] = "@@START@@"
    text = json.dumps(record, separators=(",", ":"))
    templates.append((text.split('"@@ID@@"'), start))
with open(out, "w") as f:
    f.write(header + "\n")
    i, copy = 0, 0
    while i < n:
        shift = datetime.timedelta(minutes=10 * copy)
        for parts, start in templates:
            if i >= n:
                break
            i += 1
            when = (start + shift).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            f.write((parts[0] + str(i) + parts[1]).replace('"@@START@@"', json.dumps(when)) + "\n")
        copy += 1
