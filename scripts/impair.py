#!/usr/bin/env python3
"""Bridges two network interfaces frame by frame and impairs what crosses, both ways:
loss, delay with jitter, and reordering (a share of frames skips the delay and overtakes
the others, as tc netem's `reorder` does). A stand-in for tc netem on kernels built
without it (sch_netem); used by the network-namespace scripts.

  impair.py IF_A IF_B [--loss PCT] [--delay MS] [--jitter MS] [--reorder PCT] [--seed N]
            [--stats FILE] [--pid FILE]

Runs until SIGTERM/SIGINT; then writes counters to --stats (one line of key=value).
"""
import argparse
import heapq
import os
import random
import select
import signal
import socket
import time

ETH_P_ALL = 0x0003
PACKET_IGNORE_OUTGOING = 23
SOL_PACKET = 263


def open_port(name):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)  # not the frames we send
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.bind((name, 0))
    sock.setblocking(False)
    return sock


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--loss", type=float, default=0.0, help="percent of frames dropped")
    parser.add_argument("--delay", type=float, default=0.0, help="milliseconds added to each frame")
    parser.add_argument("--jitter", type=float, default=0.0, help="up to this many more milliseconds, at random")
    parser.add_argument("--reorder", type=float, default=0.0, help="percent of frames sent at once, overtaking delayed ones")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stats")
    parser.add_argument("--pid")
    options = parser.parse_args()
    if options.pid:
        with open(options.pid, "w") as out:
            out.write(str(os.getpid()))
    rng = random.Random(options.seed)
    ports = [open_port(options.a), open_port(options.b)]
    peer = {ports[0].fileno(): ports[1], ports[1].fileno(): ports[0]}
    queue = []  # (due, order, frame, destination)
    counts = {"frames": 0, "dropped": 0, "reordered": 0, "sent": 0, "send_errors": 0}
    order = 0
    running = [True]

    def stop(*_):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A parent (a test runner) may have started us with them blocked.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    poller = select.poll()
    for port in ports:
        poller.register(port, select.POLLIN)
    while running[0]:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, frame, destination = heapq.heappop(queue)
            try:
                destination.send(frame)
                counts["sent"] += 1
            except OSError:
                counts["send_errors"] += 1
        timeout = 50 if not queue else max(0, int((queue[0][0] - now) * 1000))
        try:
            events = poller.poll(timeout)
        except InterruptedError:
            continue
        for fd, _ in events:
            destination = peer[fd]
            source = ports[0] if fd == ports[0].fileno() else ports[1]
            for _ in range(256):
                try:
                    frame = source.recv(65535)
                except (BlockingIOError, InterruptedError):
                    break
                counts["frames"] += 1
                if rng.random() * 100 < options.loss:
                    counts["dropped"] += 1
                    continue
                if rng.random() * 100 < options.reorder:
                    counts["reordered"] += 1
                    due = time.monotonic()
                else:
                    due = time.monotonic() + (options.delay + rng.random() * options.jitter) / 1000
                order += 1
                heapq.heappush(queue, (due, order, frame, destination))
    if options.stats:
        with open(options.stats, "w") as out:
            out.write(" ".join(f"{key}={value}" for key, value in counts.items()) + "\n")


if __name__ == "__main__":
    main()
