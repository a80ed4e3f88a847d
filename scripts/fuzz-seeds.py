#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into Fuzz/corpus/TARGET from material in the
repository (generated captures, the chains, the rules) and small hand-made conversations.
Run from the repository root after `swift build` (it calls mbox-trafficgen)."""
import os, struct, subprocess, sys, glob

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "Fuzz", "corpus")
trafficgen = os.path.join(root, ".build", "debug", "mbox-trafficgen")

def write(target, name, data):
    os.makedirs(os.path.join(corpus, target), exist_ok=True)
    with open(os.path.join(corpus, target, name), "wb") as f:
        f.write(data)

def pcap_records(data):
    """(link type, [frames]) of a classic pcap file."""
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack(endian + "I", data[20:24])[0]
    frames, offset = [], 24
    while offset + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        frames.append(data[offset + 16:offset + 16 + caplen])
        offset += 16 + caplen
    return link, frames

# Captures: small generated ones (plain, VLAN, IPv6, malformed, fragmented) and a pcapng copy.
for index, flags in enumerate([["--flows", "2"], ["--flows", "2", "--vlan", "7"], ["--flows", "2", "--ipv6", "1"],
                               ["--flows", "2", "--malformed", "0.2"], ["--flows", "2", "--out-of-order", "0.5"]]):
    path = f"/tmp/mbox-seed-{index}.pcap"
    subprocess.run([trafficgen, "--output", path, "--seed", str(index + 1)] + flags, check=True, capture_output=True)
    data = open(path, "rb").read()
    write("capture", f"pcap-{index}", data[:16384])
    link, frames = pcap_records(data)
    linkbyte = {1: 0, 101: 1, 0: 2}.get(link, 0)
    seed = bytes([linkbyte])
    for frame in frames[:40]:
        seed += struct.pack(">H", len(frame)) + frame + b"\x01"
    write("packet-path", f"generated-{index}", seed)
    if index == 0:
        converted = subprocess.run(["editcap", "-F", "pcapng", path, path + "ng"], capture_output=True)
        if converted.returncode == 0:
            write("capture", "pcapng-0", open(path + "ng", "rb").read()[:16384])

# Rules: each rules file's first lines, a NUL, then a payload.
for path in sorted(glob.glob(os.path.join(root, "rules", "*.rules"))):
    lines = [l for l in open(path, encoding="utf-8", errors="replace").read().splitlines() if l.startswith("alert")][:12]
    write("rules", os.path.basename(path), ("\n".join(lines) + "\n").encode() + b"\0GET /index.php?id=1 UNION SELECT HTTP/1.1\r\n\r\n")

# Chains: every chain file.
for path in sorted(glob.glob(os.path.join(root, "chains", "**", "*.yaml"), recursive=True)):
    write("chain", os.path.relpath(path, os.path.join(root, "chains")).replace("/", "-"), open(path, "rb").read())

# Application layer: port index, then pieces (bit 7: from the server; low 7 bits: length - 1).
def conversation(port_index, pieces):
    out = bytes([port_index])
    for from_server, data in pieces:
        for start in range(0, len(data), 128):
            piece = data[start:start + 128]
            out += bytes([(0x80 if from_server else 0) | (len(piece) - 1)]) + piece
    return out

http_request = b"GET /a%2e%2e/b?x=1 HTTP/1.1\r\nHost: Example.COM:80\r\nCookie: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
http_response = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello"
tls_hello = bytes([0x16, 0x03, 0x01, 0x00, 0x31, 0x01, 0x00, 0x00, 0x2d, 0x03, 0x03]) + bytes([7] * 32) + bytes(
    [0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00, 0x00, 0x03, 0x61, 0x2e, 0x62])
dns_query = bytes([0x00, 0x1d, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 7]) + b"example" + bytes([3]) + b"com" + bytes([0, 0, 1, 0, 1])
write("app-layer", "http", conversation(0, [(False, http_request), (True, http_response)]))
write("app-layer", "tls", conversation(1, [(False, tls_hello)]))
write("app-layer", "ssh", conversation(2, [(False, b"SSH-2.0-OpenSSH_9.2\r\n"), (True, b"SSH-2.0-dropbear\r\n")]))
write("app-layer", "dns", conversation(3, [(False, dns_query)]))
write("app-layer", "smtp", conversation(4, [(True, b"220 mail.example ESMTP\r\n"), (False, b"EHLO x\r\n")]))
print("seeds written to", corpus)
