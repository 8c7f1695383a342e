#!/usr/bin/env python3
"""A real SMTP server for Tollgate's email tests (aiosmtpd, from PyPI).

    smtp_sink.py OUT_DIR [--port N] [--fail-first N]

Listens on 127.0.0.1 (port 0 picks a free one) and prints `PORT <n>` once it accepts
connections. Each message received becomes OUT_DIR/NNNN.eml (the bytes as received) beside
OUT_DIR/NNNN.json (envelope plus the message as Python's own email parser reads it: headers
and the decoded text and HTML parts), so that tests check lettre's output with an independent
parser. Both files appear whole: written under a temporary name, then renamed, .json first.
--fail-first N answers the first N messages with a temporary failure (451).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import sys

try:
    from aiosmtpd.smtp import SMTP
except ImportError:
    sys.stderr.write("smtp_sink.py needs aiosmtpd: pip install aiosmtpd\n")
    sys.exit(3)


def write_whole(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Sink:
    def __init__(self, out_dir, fail_first):
        self.out_dir = out_dir
        self.fail_first = fail_first
        self.received = 0

    async def handle_DATA(self, server, session, envelope):
        if self.fail_first > 0:
            self.fail_first -= 1
            return "451 4.3.0 Try again later (smtp_sink --fail-first)"
        self.received += 1
        base = os.path.join(self.out_dir, "%04d" % self.received)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in message.walk():
            kind = part.get_content_type()
            if kind in ("text/plain", "text/html") and kind not in parts:
                # Line ends as a program reading the message sees them.
                parts[kind] = part.get_content().replace("\r\n", "\n")
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "date": str(message["Date"]),
            "content_type": message.get_content_type(),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
        }
        write_whole(base + ".json", json.dumps(summary, indent=2).encode())
        write_whole(base + ".eml", envelope.content)
        return "250 2.0.0 OK"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    sink = Sink(args.out_dir, args.fail_first)
    loop = asyncio.get_running_loop()
    # A fixed hostname: the default looks up this machine's FQDN, which can stall offline.
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="smtp-sink.test"), "127.0.0.1", args.port
    )
    port = server.sockets[0].getsockname()[1]
    print("PORT %d" % port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
