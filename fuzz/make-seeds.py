#!/usr/bin/env python3
"""Writes the seed corpora of the SigV4 and OpenSSLCrypto fuzz targets into fuzz/corpus/.

Seeds come from the published vectors the unit tests already use (the AWS SigV4 suite and
Wycheproof AES-GCM), laid out the way each harness reads its input (see the harness's
main.swift). Re-run after changing a harness's input layout:  python3 fuzz/make-seeds.py
It overwrites the files it writes and leaves every other file (regression inputs) alone.
The config-ini and sts-response seeds are hand-written files, not generated here.
"""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
corpus = root / "fuzz" / "corpus"
suite = root / "Tests" / "SigV4Tests" / "Fixtures" / "sigv4"
wycheproof = root / "Tests" / "OpenSSLCryptoTests" / "Fixtures" / "wycheproof" / "aes_gcm_test.json"


def write(target, name, data):
    path = corpus / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


def suite_requests():
    """(name, method, path+query, [(name, value)], body) for every .req file of the AWS suite."""
    for req in sorted(suite.rglob("*.req")):
        lines = req.read_bytes().split(b"\n")
        method, rest = lines[0].split(b" ", 1)
        target = rest.rsplit(b" ", 1)[0]
        headers, index = [], 1
        while index < len(lines) and lines[index]:
            line = lines[index]
            if line[:1] in (b" ", b"\t") and headers:  # folded continuation line
                name, value = headers[-1]
                headers[-1] = (name, value + b" " + line.strip())
            else:
                name, _, value = line.partition(b":")
                headers.append((name, value))
            index += 1
        body = b"\n".join(lines[index + 1:])
        yield req.stem, method, target, headers, body


def sigv4_canonical():
    for name, _, target, headers, _ in suite_requests():
        host = dict(headers).get(b"Host", b"example.amazonaws.com")
        write("sigv4-canonical", f"suite-{name}", b"https://" + host + target)
    extra = {
        "sts-assume-role": "https://sts.eu-west-1.amazonaws.com/?Action=AssumeRole&Version=2011-06-15",
        "userinfo-ipv6-port": "http://user:pw@[::1]:8080/a%20b/./c/../d?x=1+2&y=%zz&&=&k#frag",
        "default-port": "https://sts.amazonaws.com:443//a//b/",
        "relative": "a/b/../../..",
        "query-only": "?b=2&a=1&a=&b",
        "percent-edge": "/%/%2/%2F%2f/%E1%88%B4?%=%25&%2B=+",
    }
    for name, url in extra.items():
        write("sigv4-canonical", name, url)


def sigv4_sign():
    # 2015-08-30T12:36:00Z, the suite's date: 5 bytes of seconds, 1 byte of fraction.
    date = (1440938160).to_bytes(5, "big") + b"\x00"
    for name, method, target, headers, body in suite_requests():
        token = any(h[0].lower() == b"x-amz-security-token" for h in headers)
        lines = [b"%s:%s" % h for h in headers]
        data = date + (b"\x01" if token else b"\x00") + method + b"\n" + b"https://example.amazonaws.com" + target
        data += b"\n" + b"\n".join(lines) + b"\n\n" + body
        write("sigv4-sign", f"suite-{name}", data)
    write("sigv4-sign", "sts-assume-role",
          date + b"\x01POST\nhttps://sts.us-east-1.amazonaws.com/\n"
          b"Content-Type:application/x-www-form-urlencoded; charset=utf-8\nUser-Agent:stscache\n"
          b"Host: sts.us-east-1.amazonaws.com \n\n"
          b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FAdmin"
          b"&RoleSessionName=alice&Version=2011-06-15")


def aes_gcm_open():
    tests = json.loads(wycheproof.read_text())
    picked = 0
    for group in tests["testGroups"]:
        if (group["keySize"], group["ivSize"], group["tagSize"]) != (256, 96, 128):
            continue
        for test in group["tests"]:
            if picked >= 12:
                break
            key, iv = bytes.fromhex(test["key"]), bytes.fromhex(test["iv"])
            aad, ct, tag = bytes.fromhex(test["aad"]), bytes.fromhex(test["ct"]), bytes.fromhex(test["tag"])
            msg = bytes.fromhex(test["msg"])
            if len(aad) > 255 or len(ct) > 512:
                continue
            # Mode 0 (raw open): each field after a length byte (read modulo 41 / 21 / 21 / 256).
            write("aes-gcm-open", f"wycheproof-{test['tcId']}-{test['result']}",
                  bytes([0, len(key)]) + key + bytes([len(iv)]) + iv + bytes([len(tag)]) + tag
                  + bytes([len(aad)]) + aad + ct)
            # Mode 1 (round trip): key, nonce, two bytes choosing the bit to flip, aad, plaintext.
            if test["result"] == "valid" and len(aad) <= 64:
                write("aes-gcm-open", f"roundtrip-{test['tcId']}",
                      bytes([1]) + key + iv + b"\x01\x07" + bytes([len(aad)]) + aad + msg)
            picked += 1
    write("aes-gcm-open", "short-key", bytes([0, 16]) + bytes(16) + bytes([12]) + bytes(12) + bytes([16]) + bytes(16)
          + b"\x00ciphertext")
    write("aes-gcm-open", "long-nonce", bytes([0, 32]) + bytes(32) + bytes([16]) + bytes(16) + bytes([16]) + bytes(16)
          + b"\x00ciphertext")


def hex_decode():
    for name, text in {
        "lower": "00ff10a5",
        "mixed-case": "DEADbeef",
        "odd-length": "abc",
        "not-hex": "0g",
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "unicode": "ab\u00e9f",
    }.items():
        write("hex-decode", name, text)


sigv4_canonical()
sigv4_sign()
aes_gcm_open()
hex_decode()
