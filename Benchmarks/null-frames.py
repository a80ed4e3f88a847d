#!/usr/bin/env python3
# 64-byte IPv4/TCP frames (ACKs of 8 flows, both directions; one flow to port 23, which the
# L2/L3 chain's firewall drops) for net_null's mbufs (mbox-agent --null-frames).
#   python3 Benchmarks/null-frames.py OUT.pcap
import struct, sys
def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16: total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
def frame(source, destination, source_port, destination_port):
    tcp = struct.pack("!HHIIBBHHH", source_port, destination_port, 1000, 5000, 5 << 4, 0x10, 65535, 0, 0)
    pseudo = struct.pack("!4s4sBBH", source, destination, 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, source, destination)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return (b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp).ljust(60, b"\0")
with open(sys.argv[1], "wb") as out:
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for flow in range(8):
        client, server = bytes([10, 1, 0, flow]), bytes([192, 168, 7, flow])
        port = 23 if flow == 0 else 80
        for f in (frame(client, server, 40000 + flow, port), frame(server, client, port, 40000 + flow)):
            out.write(struct.pack("<IIII", 1, 0, len(f), len(f)) + f)
