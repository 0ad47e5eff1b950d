# nxdns.py PORT: a DNS server on 127.0.0.1:PORT (UDP) that answers every
# question at once with NXDOMAIN. The benchmarks point relais at it
# (auth.dns_server) so that its SPF and DMARC lookups of the test domains
# cost what a local resolver's cached answer costs, whatever the machine's
# own DNS does (a resolver that drops TXT questions made each a 5 s wait).
# Postfix, on the other side, is configured to look nothing up.
import socket, sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    q, a = s.recvfrom(4096)
    if len(q) < 12:
        continue
    # The same id and question; QR, RD as asked, RA, RCODE 3; no records.
    flags = 0x8083 | (q[2] & 1) << 8
    s.sendto(q[:2] + flags.to_bytes(2, "big") + q[4:6] + b"\0\0\0\0\0\0" + q[12:], a)
