#!/usr/bin/env bash
# Durable intake: messages accepted per second over loopback, relais against
# Postfix with its real queue, in the same run on the same machine.
#
# Each side gets MESSAGES messages of SIZE bytes from Postfix's smtp-source,
# at 1, 10 and 50 concurrent sessions, to one address that forwards to one
# recipient, and relays what it accepts to the same smtp-sink. A rate is
# MESSAGES / the time smtp-source takes to hear 250 for all of them; both
# servers say 250 only after an fsync (relais: SQLite WAL synchronous=FULL;
# Postfix: its queue file). Before each run the previous run's deliveries
# have drained, so no run pays for another.
#
# Needs root (a private Postfix instance runs from a temporary directory;
# the system's Postfix configuration is not touched) and the Debian package
# postfix. Usage: sudo bench/intake.sh   (MESSAGES=2000 for a quick look)
# RELAIS_* variables reach relais: RELAIS_DKIM_SIGNING_NICE=10 bench/intake.sh
# (as root) measures the signatures on threads of lower priority.
# RELAIS_BIN=path measures that binary instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${MESSAGES:-10000}
SIZE=${SIZE:-4096}
SESSIONS=${SESSIONS:-"1 10 50"}
[ "$(id -u)" -eq 0 ] || { echo "run as root (a private Postfix instance is started)" >&2; exit 1; }
for t in smtp-source smtp-sink postfix; do
  command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "missing $t: apt-get install -y postfix" >&2; exit 1; }
done
export PATH=$PATH:/usr/sbin

W=$(mktemp -d /tmp/relais-bench.XXXXXX)
chmod 755 "$W"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SINK=$(port); PF=$(port); RL=$(port); RW=$(port); DNS=$(port)

cleanup() {
  postfix -c "$W/postfix/etc" stop >/dev/null 2>&1 || true
  [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
  [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null || true
  [ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT

if [ -n "${RELAIS_BIN:-}" ]; then
  cp "$RELAIS_BIN" "$W/relais" # a binary built before, to compare two
else
  echo "building relais…" >&2
  go build -o "$W/relais" ./cmd/relais
fi

smtp-sink -u nobody -c "127.0.0.1:$SINK" 1000 >"$W/sink.log" 2>&1 &
SPID=$!
# relais asks its SPF and DMARC questions to a local server that answers
# NXDOMAIN at once (bench/nxdns.py): the machine's own DNS is not measured.
python3 bench/nxdns.py "$DNS" &
DPID=$!

# A private Postfix: relay_domains hub.example, relayhost the sink.
P="$W/postfix"
mkdir -p "$P/etc" "$P/spool" "$P/data"
chown postfix "$P/data"
cp /usr/share/postfix/master.cf.dist "$P/etc/master.cf"
sed -i "s/^smtp      inet  n       -       y       -       -       smtpd/127.0.0.1:$PF inet n - n - - smtpd/" "$P/etc/master.cf"
cat >"$P/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $P/spool
data_directory = $P/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.localdomain
mydestination =
relay_domains = hub.example
relayhost = [127.0.0.1]:$SINK
smtp_tls_security_level = none
mynetworks = 127.0.0.0/8
maillog_file = $P/maillog
maillog_file_prefixes = $P
default_process_limit = 200
CF
script -qc "postfix -c $P/etc start" /dev/null >/dev/null

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 not open" >&2; return 1; }
wait_port "$SINK"; wait_port "$PF"

# cputree PID: CPU seconds used so far by PID and every process under it,
# those already reaped included (utime, stime, cutime, cstime of each).
cputree() {
  python3 - "$1" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
def tree(pid):
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    t = sum(int(x) for x in f[11:15])
    try:
        for t_ in os.listdir("/proc/%d/task" % pid):
            for c in open("/proc/%d/task/%s/children" % (pid, t_)).read().split():
                t += tree(int(c))
    except OSError:
        pass
    return t
print("%.3f" % (tree(int(sys.argv[1])) / hz))
PY
}

send() { # port sessions → seconds
  local t0 t1
  t0=$(date +%s.%N)
  smtp-source -s "$2" -m "$MESSAGES" -l "$SIZE" -f writer@example.org -t 4405.bench@hub.example "127.0.0.1:$1" >/dev/null
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.3f", $2-$1}'
}

postfix_drained() {
  for _ in $(seq 600); do
    [ -z "$(find "$P/spool/incoming" "$P/spool/active" "$P/spool/deferred" "$P/spool/maildrop" -type f 2>/dev/null | head -1)" ] && return 0
    sleep 0.1
  done
}

start_relais() {
  rm -rf "$W/data"
  "$W/relais" group add 4405.bench --name Bench --animator member@sink.example --data "$W/data" >/dev/null
  RELAIS_RELAY_STARTTLS=off RELAIS_METRICS_LISTEN= RELAIS_SMTP_MAX_CONNECTIONS_PER_IP=1000 RELAIS_WEB_LISTEN="127.0.0.1:$RW" RELAIS_AUTH_DNS_SERVER="127.0.0.1:$DNS" \
    "$W/relais" serve --domain hub.example --listen "127.0.0.1:$RL" --relay "127.0.0.1:$SINK" --data "$W/data" 2>"$W/relais.log" &
  RPID=$!
  wait_port "$RL"
}

relais_drained() {
  for _ in $(seq 600); do
    # (Read whole first: grep -q leaving early would end outbox with
    # SIGPIPE, which pipefail takes for "drained".)
    out=$("$W/relais" outbox --data "$W/data" --limit 0)
    grep -q "queued" <<<"$out" || return 0
    sleep 0.1
  done
}

printf "\nDurable intake, %d messages of %d bytes, loopback, %s cores (%s), load %s\n\n" "$MESSAGES" "$SIZE" "$(nproc)" "$(date -u +%F)" "$(cut -d' ' -f1-3 /proc/loadavg)"
MPID=$(head -1 "$P/spool/pid/master.pid" | tr -d ' ')
printf "CPU ms/msg: CPU time of each server (relais: its process; Postfix: its master and every process under it)\n"
printf "from the first message to the last delivery into the sink, divided by the messages.\n\n"
printf "%-9s %14s %14s %8s %12s %12s\n" sessions "relais msg/s" "postfix msg/s" ratio "relais CPU" "postfix CPU"
for s in $SESSIONS; do
  start_relais
  c0=$(cputree "$RPID")
  tr=$(send "$RL" "$s")
  relais_drained
  c1=$(cputree "$RPID")
  accepted=$(grep -c "msg=accepted" "$W/relais.log" || true)
  kill "$RPID"; wait "$RPID" 2>/dev/null || true; RPID=
  postfix_drained
  p0=$(cputree "$MPID")
  tp=$(send "$PF" "$s")
  postfix_drained
  p1=$(cputree "$MPID")
  [ "$accepted" -eq "$MESSAGES" ] || echo "warning: relais logged $accepted accepted messages, not $MESSAGES" >&2
  awk -v s="$s" -v m="$MESSAGES" -v a="$tr" -v b="$tp" -v rc="$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" \
    -v pc="$(awk -v a="$p0" -v b="$p1" 'BEGIN{print b-a}')" \
    'BEGIN{printf "%-9s %14.0f %14.0f %7.2fx %9.2f ms %9.2f ms\n", s, m/a, m/b, (m/a)/(m/b), 1000*rc/m, 1000*pc/m}'
done
printf "load at the end: %s (1, 5, 15 min; other work on the machine counts too)\n" "$(cut -d' ' -f1-3 /proc/loadavg)"
