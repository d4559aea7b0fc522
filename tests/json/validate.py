#!/usr/bin/env python3
"""Validate JSON documents against a JSON Schema (2020-12).

Usage: validate.py SCHEMA FILE...   A FILE ending in .jsonl holds one document per line;
any other FILE holds one document. Prints each violation and exits 1 when there is any.
"""
import json
import sys

import jsonschema


def documents(path):
    with open(path, encoding="utf-8") as f:
        if path.endswith(".jsonl"):
            for n, line in enumerate(f, 1):
                if line.strip():
                    yield f"{path}:{n}", json.loads(line)
        else:
            yield path, json.load(f)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    bad = checked = 0
    for path in sys.argv[2:]:
        for where, doc in documents(path):
            checked += 1
            for e in validator.iter_errors(doc):
                bad += 1
                if bad <= 20:
                    at = "/".join(str(p) for p in e.absolute_path)
                    print(f"{where}: /{at}: {e.message[:300]}")
    print(f"{checked} documents, {bad} violations")
    sys.exit(1 if bad or not checked else 0)


if __name__ == "__main__":
    main()
