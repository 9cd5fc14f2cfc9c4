#!/usr/bin/env python3
"""Attempt tokens as the checkout page signs them (a nonce and the prefix of its MAC under the link
key), one per confirmation, written as "path token" lines of one width for bench/checkout.lua.

usage: attempt_tokens.py KEY LINKS OUT COUNT [--first-link-only]
  KEY    the link key's secret, base64 (KASSA_LINK_KEYS without its "id:")
  LINKS  a file of signed link paths, one a line
  OUT    where the lines go: round-robin over the links, or every line the first link's
"""
import base64
import hashlib
import hmac
import secrets
import string
import sys

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase


def token(key, path):
    link = path.split("/pay/")[1].split("?")[0]
    nonce = "".join(secrets.choice(ALPHABET) for _ in range(24))
    mac = base64.urlsafe_b64encode(hmac.new(key, f"attempt\n{link}\n{nonce}".encode(), hashlib.sha256).digest()).decode().rstrip("=")
    return f"{path} {nonce}.{mac[:22]}\n"


def main(argv):
    if len(argv) not in (5, 6) or (len(argv) == 6 and argv[5] != "--first-link-only"):
        sys.exit(__doc__)
    key = base64.b64decode(argv[1])
    paths = [line.strip() for line in open(argv[2]) if line.strip()]
    if len(argv) == 6:
        paths = paths[:1]
    with open(argv[3], "w") as out:
        out.writelines(token(key, paths[i % len(paths)]) for i in range(int(argv[4])))


if __name__ == "__main__":
    main(sys.argv)
