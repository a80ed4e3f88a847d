#!/usr/bin/env python3
"""Writes a realistic Suricata 7 rule set for benchmarks: N rules whose header protocols
and keyword mix follow what the open community set uses (docs/ids.md has the table), with
generated patterns (random domains, paths, user agents, byte strings) — never copied from
a real set. Deterministic for a seed.

    python3 Benchmarks/generate-rules.py [--rules 25000] [--seed 1] > generated.rules
"""
import argparse
import random

CLASSTYPES = ["trojan-activity", "policy-violation", "bad-unknown", "misc-activity", "web-application-attack",
              "attempted-admin", "attempted-user", "coin-mining", "domain-c2", "command-and-control",
              "exploit-kit", "social-engineering", "credential-theft", "misc-attack", "attempted-recon"]
TLDS = ["com", "net", "org", "ru", "cn", "top", "xyz", "info", "biz", "io", "cc", "su", "online", "site"]
METHODS = ["GET", "POST", "PUT", "HEAD"]


def word(rng, low=4, high=12):
    consonants, vowels = "bcdfghjklmnpqrstvwxz", "aeiouy"
    return "".join(rng.choice(consonants if i % 2 == 0 else vowels) for i in range(rng.randint(low, high)))


def domain(rng):
    parts = [word(rng, 3, 10) for _ in range(rng.choice([1, 1, 2]))]
    return ".".join(parts) + "." + rng.choice(TLDS)


def hexbytes(rng, count):
    return "|" + " ".join("%02x" % rng.randrange(256) for _ in range(count)) + "|"


def common(rng, sid):
    parts = []
    if rng.random() < 0.74:
        parts.append("reference:url,%s/%s" % (domain(rng), word(rng)))
    parts.append("classtype:%s" % rng.choice(CLASSTYPES))
    parts.append("sid:%d" % sid)
    parts.append("rev:%d" % rng.randint(1, 6))
    parts.append("metadata:created_at 20%02d_%02d_%02d, updated_at 2026_01_01" % (rng.randint(10, 25), rng.randint(1, 12), rng.randint(1, 28)))
    return parts


def threshold(rng):
    if rng.random() < 0.08:
        return ["threshold:type %s, track %s, count %d, seconds %d" % (
            rng.choice(["limit", "threshold", "both"]), rng.choice(["by_src", "by_dst"]), rng.randint(1, 10),
            rng.choice([60, 120, 300, 3600]))]
    return []


def flowbits(rng, names):
    if rng.random() < 0.085:
        name = rng.choice(names)
        if rng.random() < 0.5:
            return ["flowbits:set,%s" % name, "flowbits:noalert"] if rng.random() < 0.3 else ["flowbits:set,%s" % name]
        return ["flowbits:isset,%s" % name]
    return []


def http_rule(rng, names):
    body = []
    body.append("flow:established,%s" % ("to_server" if rng.random() < 0.85 else "to_client"))
    to_client = body[0].endswith("to_client")
    if to_client:
        body += ["http.stat_code", 'content:"%s"' % rng.choice(["200", "302", "404"])]
        choice = rng.random()
        if choice < 0.6:
            body += ["file.data", 'content:"%s"' % word(rng, 8, 16)]
            if rng.random() < 0.5:
                body += ['content:"%s"' % word(rng, 5, 10), "distance:0"]
        else:
            body += ["http.header", 'content:"Server|3a 20|%s"' % word(rng, 5, 10)]
        return body
    if rng.random() < 0.25:
        body += ["http.method", 'content:"%s"' % rng.choice(METHODS)]
    uri = "/" + word(rng, 4, 10) + rng.choice([".php", ".asp", ".jsp", "/", ".cgi", "/" + word(rng, 3, 6)])
    body += ["http.uri", 'content:"%s"' % uri]
    if rng.random() < 0.5:
        body.append("fast_pattern")
    if rng.random() < 0.5:
        body.append("nocase")
    if rng.random() < 0.3:
        body += ['content:"%s="' % word(rng, 2, 6), "distance:0"]
    elif rng.random() < 0.2:
        body.append("endswith" if rng.random() < 0.5 else "bsize:%d" % (len(uri) + rng.randint(0, 20)))
    if rng.random() < 0.15:
        body.append('pcre:"/\\/%s[0-9a-f]{%d,}\\.(php|asp)/i"' % (word(rng, 3, 5), rng.randint(4, 16)))
    if rng.random() < 0.18:
        body += ["http.host", 'content:"%s"' % domain(rng)]
        if rng.random() < 0.4:
            body.append("endswith")
    if rng.random() < 0.08:
        body += ["http.user_agent", 'content:"%s/%d.%d"' % (word(rng, 5, 9).capitalize(), rng.randint(1, 9), rng.randint(0, 9))]
    if rng.random() < 0.06:
        body += ["http.request_body", 'content:"%s="' % word(rng, 4, 8)]
    if rng.random() < 0.04:
        body += ["http.header_names", 'content:"|0d 0a|%s|0d 0a|"' % word(rng, 5, 10).capitalize()]
    return body


def dns_rule(rng):
    name = domain(rng)
    body = ["dns.query"]
    if rng.random() < 0.6:
        body += ["dotprefix", 'content:".%s"' % name, "nocase", "endswith"]
    else:
        body += ["bsize:%d" % len(name), 'content:"%s"' % name, "nocase"]
    return body


def tls_rule(rng):
    if rng.random() < 0.75:
        name = domain(rng)
        body = ["flow:established,to_server", "tls.sni"]
        body += ["bsize:%d" % len(name), 'content:"%s"' % name] if rng.random() < 0.5 else ["dotprefix", 'content:".%s"' % name, "endswith"]
        return body
    if rng.random() < 0.5:
        return ["flow:established,to_client", "tls.cert_subject", 'content:"CN=%s"' % domain(rng), "endswith"]
    return ["flow:established,to_client", "tls.certs", 'content:"%s"' % hexbytes(rng, 12)]


def tcp_rule(rng):
    body = ["flow:established,%s" % rng.choice(["to_server", "to_server", "to_client"])]
    first = hexbytes(rng, rng.randint(4, 10)) if rng.random() < 0.5 else word(rng, 6, 14)
    body.append('content:"%s"' % first)
    if rng.random() < 0.3:
        body += ["depth:%d" % (len(first) + rng.randint(0, 40))]
    if rng.random() < 0.4:
        body += ['content:"%s"' % word(rng, 4, 8), "distance:%d" % rng.randint(0, 8)]
        if rng.random() < 0.5:
            body.append("within:%d" % rng.randint(20, 60))
    if rng.random() < 0.12:
        body.append("byte_test:%d,>,%d,%d,relative" % (rng.choice([1, 2, 4]), rng.randint(10, 1000), rng.randint(0, 8)))
    if rng.random() < 0.1:
        body.append("byte_jump:%d,%d,relative" % (rng.choice([1, 2, 4]), rng.randint(0, 8)))
    if rng.random() < 0.1:
        body.append("isdataat:%d,relative" % rng.randint(10, 200))
    if rng.random() < 0.15:
        body.append('pcre:"/%s\\s+[a-z]{%d,}/i"' % (word(rng, 4, 6), rng.randint(2, 8)))
    if rng.random() < 0.05:
        body.append("dsize:>%d" % rng.randint(50, 1000))
    return body


def generate(count, seed):
    rng = random.Random(seed)
    names = ["gen.%s" % word(rng, 5, 10) for _ in range(400)]
    protocols = [("http", 14544), ("dns", 3976), ("tcp", 2974), ("tls", 2547), ("udp", 299), ("ip", 231),
                 ("smtp", 88), ("tcp-pkt", 52), ("ftp", 44), ("smb", 36), ("icmp", 30), ("ssh", 4)]
    population = [name for name, _ in protocols]
    weights = [weight for _, weight in protocols]
    lines = []
    for index in range(count):
        sid = 3_000_000 + index
        proto = rng.choices(population, weights)[0]
        if proto == "http":
            body = http_rule(rng, names)
        elif proto == "dns":
            body = dns_rule(rng)
        elif proto == "tls":
            body = tls_rule(rng)
        elif proto in ("tcp", "tcp-pkt", "smtp", "ftp", "smb", "ssh"):
            body = tcp_rule(rng)
        elif proto == "udp":
            body = ['content:"%s"' % hexbytes(rng, rng.randint(4, 8)), "depth:%d" % rng.randint(8, 40)]
        elif proto == "icmp":
            body = ["itype:%d" % rng.choice([0, 3, 8, 11]), 'content:"%s"' % word(rng, 6, 10)]
        else:  # ip: reputation-style address lists, header only
            addresses = ",".join("%d.%d.%d.%d" % (rng.randint(1, 223), rng.randrange(256), rng.randrange(256), rng.randint(1, 254))
                                 for _ in range(rng.randint(5, 40)))
            lines.append('alert ip $HOME_NET any -> [%s] any (msg:"GEN IP group %d"; %s)' % (
                addresses, index, "; ".join(threshold(rng) + common(rng, sid)) + ";"))
            continue
        body += flowbits(rng, names) + threshold(rng)
        source, destination = ("$HOME_NET", "$EXTERNAL_NET") if rng.random() < 0.8 else ("$EXTERNAL_NET", "$HOME_NET")
        message = "GEN %s %s %s" % (proto.upper(), rng.choice(["Trojan", "Policy", "Exploit", "Info", "Malware"]), word(rng))
        lines.append('alert %s %s any -> %s any (msg:"%s"; %s)' % (
            proto, source, destination, message, "; ".join(body + common(rng, sid)) + ";"))
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=25_000)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    print("# Generated by Benchmarks/generate-rules.py --rules %d --seed %d" % (arguments.rules, arguments.seed))
    print("\n".join(generate(arguments.rules, arguments.seed)))
