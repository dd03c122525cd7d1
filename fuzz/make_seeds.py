#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets into fuzz/corpus/<target>/seed-*.

Run from anywhere: python3 fuzz/make_seeds.py. Deterministic; existing seed-* files are replaced,
other corpus files (minimised fuzzer finds) are left alone. The input formats are documented in
fuzz/src/lib.rs (export_reader's 7-byte header, render's 4-byte header and 0xFE-separated strings).
"""

import gzip
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

# Payloads aimed at chat formatting, mentions and links (as in src/render/mod.rs's tests).
HOSTILE = [
    "<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C123>", "<!subteam^S123>",
    "@channel @here @everyone", "<http://evil.example|click>", "[x](http://evil.example)",
    "![img](http://evil.example/i.png)", "<https://evil.example>",
    "*bold* **bold** _it_ __it__ ~s~ ~~s~~ `code` ```block```",
    "&amp; &lt;!channel&gt; &#60;", "<at>Bob</at> <AT>x</AT>",
    "line1\nline2\r\n- item\n1. one\n# head\n> quote", "- starts a list", "+ plus list",
    "* star list", "1. numbered", "12) numbered", "# heading", "> quote", "    indented code",
    "{{DATE(2017-02-14T06:08:39Z, SHORT)}}", "\\*escaped\\* \\", ":smile: :rotating_light:",
    "\x1b[31mred\x1b[0m \x07", "\u202egnp.exe \u2066x\u2069", "a\u2028b\u2029c",
    "é😀日本\u200d", "", "   ", "\\", "\"quoted\"", "%2F%zz%", "x" * 101,
]


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)


def clear_seeds():
    for d in CORPUS.glob("*"):
        for f in d.glob("seed-*"):
            f.unlink()


def compact(path):
    return json.dumps(json.loads(path.read_text()), separators=(",", ":"), ensure_ascii=False)


# ---- trigger_event -----------------------------------------------------------------------------

def s3_record(key, event="ObjectCreated:Put", bucket="guardduty-alerts-exports", version=None):
    obj = {"key": key, "size": 7692}
    if version is not None:
        obj["versionId"] = version
    return {"eventSource": "aws:s3", "eventName": event,
            "s3": {"bucket": {"name": bucket}, "object": obj}}


def trigger_seeds():
    for p in sorted((ROOT / "events").glob("*.json")):
        write("trigger_event", p.stem, compact(p))
    key = "AWSLogs/111122223333/GuardDuty/us-east-1/2026/11/26/a.jsonl.gz"
    s3 = {"Records": [s3_record(key)]}
    eb = {"version": "0", "source": "aws.s3", "detail-type": "Object Created",
          "detail": {"bucket": {"name": "b"}, "object": {"key": "My Exports/x+y%z.jsonl.gz", "version-id": ""}}}
    write("trigger_event", "s3-payload", json.dumps(s3))
    write("trigger_event", "eventbridge-payload", json.dumps(eb))
    write("trigger_event", "test-event-payload", json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}))
    write("trigger_event", "sns-envelope-payload",
          json.dumps({"Type": "Notification", "MessageId": "n", "Message": json.dumps(s3)}))
    keys = ["My+Exports/Caf%C3%A9.jsonl.gz", "bad%zz.jsonl.gz", "half-%C3.jsonl", "trail%2",
            "a%2Bb+c.jsonl", "", "x.json", "%F0%9F%A6%80.jsonl.gz", "dup.jsonl"]
    recs = [s3_record(k) for k in keys] + [s3_record("dup.jsonl"), s3_record("dup.jsonl", version="v1"),
                                          s3_record("gone.jsonl.gz", event="ObjectRemoved:Delete"),
                                          s3_record("k.jsonl", event="s3:ObjectCreated:Copy", bucket=""),
                                          s3_record("v.jsonl", version="")]
    write("trigger_event", "s3-odd-keys", json.dumps({"Records": recs}))
    bodies = [json.dumps(s3), "Message Body", json.dumps(eb), json.dumps({"hello": "world"}),
              json.dumps({"Type": "Notification", "Message": "not json"}), "[]", "null",
              json.dumps({"Type": "Notification", "Message": json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})})]
    sqs = {"Records": [{"eventSource": "aws:sqs", "messageId": f"m{i}", "body": b} for i, b in enumerate(bodies)]
           + [{"eventSource": "aws:sqs", "messageId": "nobody"}, {"eventSource": "aws:sqs", "body": "{}"}]}
    write("trigger_event", "sqs-mixed", json.dumps(sqs))
    sns = {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": f"n{i}", "Message": b}}
                       for i, b in enumerate(bodies)] + [{"Sns": {}}]}
    write("trigger_event", "sns-mixed", json.dumps(sns))
    eb_other = {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}
    write("trigger_event", "eventbridge-other", json.dumps(eb_other))
    write("trigger_event", "eventbridge-deleted", json.dumps({**eb, "detail-type": "Object Deleted"}))
    write("trigger_event", "not-json", "s3://bucket/key.jsonl.gz")
    write("trigger_event", "records-odd", json.dumps({"Records": [{"eventSource": "aws:kinesis"}, 1, None]}))
    write("trigger_event", "deep", "[" * 200 + "]" * 200)


# ---- export_reader -----------------------------------------------------------------------------

def header(mode=0, max_line=0, read=0, repeat=0, fail=0, limit=0, member=0):
    return bytes([mode, max_line, read, repeat, fail, limit, member])


def export_seeds():
    sample = (ROOT / "events" / "sample-export.jsonl").read_bytes()
    lines = sample.splitlines(keepends=True)
    few = b"".join(lines[:2])
    small = b'{"id":"f1","type":"Recon:EC2/Probe","severity":2}\n'
    odd = (b'{"id":"a","type":"T","severity":"5"}\r\n\r\n   \n{"findings":[]}\n{not json\n'
           b'{"id":"\xff\xfe","type":"T","severity":1}\n[1,2]\n"text"\n{"id":"b","type":"T","severity":null}\n'
           b'{"id":"c","type":"T","severity":4}')
    write("export_reader", "plain-two-findings", header() + few)
    write("export_reader", "gzip-one-member", header(mode=1) + few)
    write("export_reader", "gzip-members", header(mode=2, member=20) + few)
    write("export_reader", "gzip-members-empty", header(mode=2, member=7) + small * 3)
    write("export_reader", "gzip-cut", header(mode=3, fail=200) + few)
    write("export_reader", "gzip-cut-trailer", header(mode=3, fail=254) + small)
    write("export_reader", "odd-lines", header(max_line=41) + odd)
    write("export_reader", "odd-lines-gzip-bytewise", header(mode=1, read=1) + odd)
    write("export_reader", "odd-lines-pending", header(read=0x83) + odd)
    write("export_reader", "io-error", header(fail=128) + few)
    write("export_reader", "io-error-first-byte", header(fail=1, read=1) + small)
    write("export_reader", "size-limit", header(limit=5) + small * 4)
    write("export_reader", "chunks-repeated", header(repeat=240) + small + b"x" * 300 + b"\n")
    write("export_reader", "chunks-long-line", header(max_line=200, repeat=250, mode=2, member=255) + b"y" * 1000)
    write("export_reader", "chunks-long-line-error", header(max_line=200, repeat=250, fail=250) + small + b"z" * 999)
    write("export_reader", "crlf-at-limit", header(max_line=len(small)) + small[:-1] + b"\r\n" + small)
    write("export_reader", "raw-gzip-file", header() + (ROOT / "events" / "sample-export.jsonl.gz").read_bytes()[:4000])
    write("export_reader", "raw-gzip-members", header() + gzip.compress(small, mtime=0) * 2)
    write("export_reader", "empty", header())
    write("export_reader", "lone-1f", header() + b"\x1f")
    for p in sorted((ROOT / "tests" / "fixtures").glob("*.jsonl")):
        write("export_reader", f"fixture-{p.stem}", header(mode=2, member=40) + p.read_bytes()[:6000])


# ---- render ------------------------------------------------------------------------------------

def render_seeds():
    for p in [ROOT / "events" / "sample-export.jsonl", *sorted((ROOT / "tests" / "fixtures").glob("*.jsonl"))]:
        for i, line in enumerate(l for l in p.read_text().splitlines() if l.strip()):
            write("render", f"{p.stem}-{i + 1:02}", line)
    sep = b"\xfe"
    for i, s in enumerate(HOSTILE):
        # Every string field the same hostile text; the resource type and flags vary.
        fields = [s.encode()] * 32
        write("render", f"hostile-{i:02}", bytes([i % 13, i % 23, (i * 37) % 256, 1]) + sep.join(fields))
    # One field at a time near the renderers' caps (Slack header 150, fields 2000, text 3000,
    # Teams values 400, title 1000, PagerDuty names 255 and summary 1024), cut inside an entity,
    # a surrogate pair or a backslash escape.
    caps = [150, 255, 400, 1000, 1024, 2000, 3000]
    tails = ["&&&&", "😀😀", "\\\\\\\\", "日本", "<<>>"]
    for cap in caps:
        for j, tail in enumerate(tails):
            text = ("a" * (cap - 2) + tail).encode()
            fields = [b"id", b"Recon:EC2/Probe", text, b"111122223333", b"us-east-1"]
            write("render", f"cap-{cap}-{j}", bytes([0, 9, 0, 1]) + sep.join(fields))
    long_type = ("Recon:EC2/" + "T" * 120).encode()
    write("render", "long-type", bytes([0, 9, 0, 0]) + sep.join([b"id", long_type]))
    write("render", "no-region-arn-account", bytes([11, 12, 0xc0, 3]) + sep.join([b"id", b"Backdoor:Lambda/C&CActivity.B", b"t"]))
    write("render", "severity-string", bytes([12, 20, 0x3c, 2]) + sep.join([b"id", b"8.5"]))
    # The first render run's crash, minimised (tests/fuzz_regressions.rs, Teams and `<at `).
    write("render", "crash-teams-at-space", bytes([0x00, 0x61, 0x74, 0x00]) + b"<at\x001")


if __name__ == "__main__":
    clear_seeds()
    trigger_seeds()
    export_seeds()
    render_seeds()
    for d in sorted(CORPUS.iterdir()):
        print(f"{d.name}: {len(list(d.glob('seed-*')))} seeds")
