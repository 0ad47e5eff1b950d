# Verifies every DKIM-Signature of the message on stdin with dkimpy, the
# public keys taken from the JSON file named by argv[1] (DNS name → TXT).
import json
import sys

import dkim

records = {k.lower().rstrip("."): v for k, v in json.load(open(sys.argv[1])).items()}


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    rec = records.get(name.lower().rstrip("."))
    return rec.encode() if rec is not None else None


msg = sys.stdin.buffer.read()
headers, _ = dkim.rfc822_parse(msg)
out = []
for i, (name, value) in enumerate(h for h in headers if h[0].lower() == b"dkim-signature"):
    tags = dkim.util.parse_tag_value(b"".join(value.split()))
    d = dkim.DKIM(msg)
    r = {"d": tags.get(b"d", b"").decode(), "s": tags.get(b"s", b"").decode(),
         "a": tags.get(b"a", b"").decode(), "ok": False, "error": ""}
    try:
        r["ok"] = bool(d.verify(idx=i, dnsfunc=dnsfunc))
    except Exception as e:  # a verifier error is a failed signature
        r["error"] = str(e)
    out.append(r)
json.dump(out, sys.stdout)
