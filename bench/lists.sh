#!/usr/bin/env bash
# List delivery: one 4 KB post to a MEMBERS-member list (10,000 by default),
# relais against mlmmj, in the same run on the same machine, both relaying
# into the same Postfix smtp-sink.
#
# relais sends each member a personal copy, one SMTP transaction each.
# mlmmj runs in two modes (bench/README.md, /work/shared/TESTING.md):
#   fast     control/verp present and empty, control/maxverprecips 100: one
#            identical copy per 100 recipients, the bar to beat;
#   default  one transaction per recipient, about 23 recipients/s here, so it
#            gets a SAMPLE of the members (500 by default) and is compared by
#            rate.
# The time is from the moment the post is handed over (mlmmj-receive started;
# relais: SMTP session opened) to the moment the sink has written the last
# expected recipient. The sink dumps every completed transaction to one file
# (smtp-sink -D); a watcher counts its X-Rcpt-Args lines as they arrive, and
# the dump is checked afterwards: every member exactly once, and how many
# distinct messages were sent (personal copies differ from each other).
# The table also gives each sender's CPU time, and the sink's share of the
# wall time: near 100 % the sink, not the sender, set the pace.
# Peak memory: relais, VmHWM of the serving process; mlmmj, the sum of the
# VmHWM of mlmmj-receive and the processes under it (mlmmj-process,
# mlmmj-send), sampled from /proc while they run.
#
# Needs the Debian packages postfix (smtp-sink, smtp-source) and mlmmj, Go
# and python3. Root is not needed (as root, smtp-sink drops to nobody).
# Usage: bench/lists.sh                 (MEMBERS=2000 SAMPLE=100 for a quick look)
#        ONLY=mlmmj bench/lists.sh      (or ONLY=relais: one side only)
#        KEEP=1 bench/lists.sh          (keep the sink's dump and the logs)
#        PROFILE=/tmp/cpu.pprof bench/lists.sh   (relais's CPU profile: go tool pprof -top)
#        MEMBERS=100000 ONLY=relais bench/lists.sh (intake's latency during a large fan-out)
#        RELAIS_BIN=path bench/lists.sh (that binary instead of building this tree's)
# While relais delivers, a probe sends it a message every 100 ms (to a group
# whose animator is at probe.example, not a member) and times each from
# connect to the 250 after DATA: intake must stay responsive (PROBE=0: no
# probe).
set -euo pipefail
cd "$(dirname "$0")/.."
MEMBERS=${MEMBERS:-10000}
SAMPLE=${SAMPLE:-500}        # members for mlmmj's default mode
VERPRECIPS=${VERPRECIPS:-100} # mlmmj fast mode: recipients per transaction
IDLE=${IDLE:-60}             # give up when the sink hears nothing this long (s)
ONLY=${ONLY:-}               # mlmmj or relais: run one side only
[ "$SAMPLE" -le "$MEMBERS" ] || SAMPLE=$MEMBERS
export PATH=$PATH:/usr/sbin
command -v python3 >/dev/null || { echo "missing python3" >&2; exit 1; }
command -v smtp-sink >/dev/null || { echo "missing smtp-sink: apt-get install -y postfix" >&2; exit 1; }
if [ "$ONLY" != relais ]; then
  # mlmmj's binaries refuse to run unless invoked by their full path.
  [ -x /usr/bin/mlmmj-receive ] && command -v mlmmj-make-ml >/dev/null ||
    { echo "missing mlmmj: apt-get install -y mlmmj" >&2; exit 1; }
fi
if [ "$ONLY" != mlmmj ]; then
  command -v go >/dev/null || { echo "missing go" >&2; exit 1; }
fi

W=$(mktemp -d /tmp/relais-lists.XXXXXX)
chmod 755 "$W"
SD=$W
if [ -d /dev/shm ] && [ -w /dev/shm ]; then SD=$(mktemp -d /dev/shm/relais-lists.XXXXXX); chmod 755 "$SD"; fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SINK=$(port); DNS=$(port)

cleanup() {
  [ -n "${MPID:-}" ] && { pkill -P "$MPID" 2>/dev/null; kill "$MPID" 2>/dev/null; } || true
  [ -n "${PRPID:-}" ] && kill "$PRPID" 2>/dev/null || true
  [ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null || true
  [ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null || true
  [ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $W $SD" >&2; else rm -rf "$W" "$SD"; fi
}
trap cleanup EXIT

# --- helpers (python: timing, counting and wait4 are easier there) ---------

# watch.py DUMP OFFSET WANT IDLE: wait until WANT member recipients (at
# @members.example) have been dumped after OFFSET; print the time (epoch
# seconds) the last one was seen. Anything else (a notice to the owner) is
# not counted. It shares the cores with the sender it times: relais's
# personal copies make a hundred times mlmmj's bytes (70 MB for 10,000
# members), so the new bytes are searched by re (in C), not split into
# lines in Python, which took 5 % of the two cores during relais's run.
cat >"$W/watch.py" <<'PY'
import os, re, sys, time
path, off, want, idle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
member = re.compile(rb"\nX-Rcpt-Args: <[^>\n]*@members\.example>")
last = time.time()
while not os.path.exists(path):          # the sink creates it with the first message
    if time.time() - last > idle:
        sys.exit("sink: nothing arrived in %gs" % idle)
    time.sleep(0.005)
# rest: the bytes after the last line end read, that line end first (a
# match starts at one).
n, rest = 0, b"\n"
with open(path, "rb") as f:
    f.seek(off)
    while True:
        data = f.read(1 << 20)
        now = time.time()
        if data:
            last = now
            buf = rest + data
            end = buf.rfind(b"\n")
            if end < 0:
                rest = buf
                continue
            n += len(member.findall(buf, 0, end + 1))
            rest = buf[end:]
            if n >= want:
                print("%.6f" % now)
                sys.exit(0)
        elif now - last > idle:
            sys.exit("sink: %d of %d recipients, then nothing for %gs" % (n, want, idle))
        else:
            time.sleep(0.005)
PY

# check.py DUMP OFFSET MEMBERSFILE: what arrived for the members after OFFSET.
# Prints "transactions recipients distinct-messages missing duplicates
# max-rcpts/tx other-transactions" (other: not to any member).
cat >"$W/check.py" <<'PY'
import hashlib, sys
path, off, members = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "rb") as f:
    f.seek(off)
    seg = f.read()
want = set(l.strip().lower() for l in open(members, "rb") if l.strip())
got, bodies, tx, maxr, other = {}, set(), 0, 0, 0
for chunk in seg.split(b"X-Client-Addr: ")[1:]:
    head, _, _ = chunk.partition(b"\nReceived: ")
    rcpts = [l[13:].split(b" ")[0].strip(b"<>").lower()
             for l in head.split(b"\n") if l.startswith(b"X-Rcpt-Args: ")]
    if not any(a in want for a in rcpts):
        other += 1
        continue
    tx += 1
    for a in rcpts:
        got[a] = got.get(a, 0) + 1
    maxr = max(maxr, len(rcpts))
    i = chunk.find(b" (smtp-sink) with ")
    j = chunk.find(b"\n", chunk.find(b"\n", i) + 1)   # end of the Received date line
    bodies.add(hashlib.sha256(chunk[j + 1:]).digest())
missing = len(want - set(got))
dups = sum(c - 1 for c in got.values() if c > 1) + len(set(got) - want)
print(tx, sum(got.values()), len(bodies), missing, dups, maxr, other)
PY

# run.py RSSFILE T0FILE CMD... < post: run CMD; write its start time, then
# "KB CPUSECONDS": the sum of the peak resident sizes (VmHWM) of CMD and every
# process under it, sampled from /proc every 5 ms while it runs, and the CPU
# time of them all. (Not wait4's ru_maxrss: Linux carries the peak of the
# forking Python across exec.)
cat >"$W/run.py" <<'PY'
import os, subprocess, sys, time
rss, t0, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
hwm, names = {}, {}
def tree(pid):
    out = [pid]
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            for c in f.read().split():
                out += tree(int(c))
    except OSError:
        pass
    return out
def sample(root):
    for pid in tree(root):
        try:
            st = dict(l.split(":", 1) for l in open("/proc/%d/status" % pid))
        except (OSError, ValueError):
            continue
        if not st["Name"].strip().startswith("mlmmj") or "VmHWM" not in st:
            continue      # not yet exec'd (still a copy of this Python)
        kb = int(st["VmHWM"].split()[0])
        if kb > hwm.get(pid, 0):
            hwm[pid], names[pid] = kb, st["Name"].strip()
start = time.time()
p = subprocess.Popen(cmd)
open(t0, "w").write("%.6f\n" % start)
while True:
    sample(p.pid)
    pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    if pid:
        break
    time.sleep(0.005)
open(rss, "w").write("%d %.3f\n" % (sum(hwm.values()), ru.ru_utime + ru.ru_stime))
sys.stderr.write("mlmmj processes (peak KB): %s\n" % " ".join("%s=%d" % (names[p], hwm[p]) for p in sorted(hwm)))
sys.exit(os.waitstatus_to_exitcode(status))
PY

# others.py DUMP OFFSET: show what went to non-members after OFFSET (a post
# held for moderation shows up as notices to the owner and the poster).
cat >"$W/others.py" <<'PY'
import email, email.header, email.policy, sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    f.seek(off)
    seg = f.read()
for chunk in seg.split(b"X-Client-Addr: ")[1:]:
    head = chunk.partition(b"\nReceived: ")[0]
    if b"@members.example>" in head:
        continue
    rcpt = [l[13:].decode() for l in head.split(b"\n") if l.startswith(b"X-Rcpt-Args: ")]
    i = chunk.find(b" (smtp-sink) with ")
    m = email.message_from_bytes(chunk[chunk.find(b"\n", chunk.find(b"\n", i) + 1) + 1:], policy=email.policy.default)
    print("to %s: %s" % (" ".join(rcpt), m["Subject"]))
    for part in m.walk():
        if part.get_content_type() == "text/plain":
            print("    " + "\n    ".join(part.get_content().strip().splitlines()[:8]))
            break
PY

# probe.py PORT STOPFILE: a message to 4405.probe@hub.example every 100 ms
# until STOPFILE exists; then the latencies (connect to the 250 after DATA):
# "count median p95 max" in ms.
cat >"$W/probe.py" <<'PY'
import os, smtplib, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
lat, i = [], 0
while not os.path.exists(stop):
    t = time.time()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            s.sendmail("probe@example.org", ["4405.probe@hub.example"],
                       "From: probe@example.org\r\nTo: 4405.probe@hub.example\r\nSubject: probe %d\r\n"
                       "Message-ID: <probe%d.%d@example.org>\r\n\r\nprobe\r\n" % (i, i, os.getpid()))
        lat.append((time.time() - t) * 1000)
    except Exception as e:
        sys.stderr.write("probe: %s\n" % e)
    i += 1
    time.sleep(max(0, 0.1 - (time.time() - t)))
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else 0
print("%d %.1f %.1f %.1f" % (len(lat), q(0.5), q(0.95), lat[-1] if lat else 0))
PY

# send.py PORT FROM TO FILE T0FILE: one SMTP transaction; write the time the
# session was opened.
cat >"$W/send.py" <<'PY'
import smtplib, sys, time
port, frm, to, path, t0 = sys.argv[1:]
msg = open(path, "rb").read()
start = time.time()
with smtplib.SMTP("127.0.0.1", int(port), timeout=120) as s:
    s.ehlo()
    s.sendmail(frm, [to], msg, ["BODY=8BITMIME"] if s.has_extn("8bitmime") else [])
open(t0, "w").write("%.6f\n" % start)
PY

wait_port() { for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 not open" >&2; return 1; }
dumpsize() { [ -f "$SD/sink/dump" ] && stat -c %s "$SD/sink/dump" || echo 0; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

# post TO MSGID FILE: a 4 KB plain-text post from poster@example.org, 8-bit
# UTF-8 body, headers in ASCII (relais holds a post with raw 8-bit headers for
# moderation as malformed).
post() {
  {
    printf 'From: Camille Poster <poster@example.org>\nTo: %s\nSubject: =?UTF-8?Q?Compte_rendu_de_la_r=C3=A9union_du_mardi?=\n' "$1"
    printf 'Date: %s\nMessage-ID: <%s>\nMIME-Version: 1.0\n' "$(date -R)" "$2"
    printf 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n'
    for i in $(seq 48); do
      printf 'Point %02d : la réunion a décidé de poursuivre le travail engagé ce mois-ci.\n' "$i"
    done
  } >"$3"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
seq -f 'm%05g@members.example' 1 "$MEMBERS" >"$W/members.txt"
head -n "$SAMPLE" "$W/members.txt" >"$W/sample.txt"

# --- the sink ----------------------------------------------------------------
# In memory when possible (/dev/shm): the dump costs the sink a file per
# transaction, about a quarter of its speed on disk. relais's data and
# mlmmj's spool stay in $W, on disk. Without -c: its running counters,
# a write to sink.log per message that nothing here reads, cost the sink
# 5 % of its CPU for relais's ten thousand transactions (0.065 → 0.062 ms
# a copy) and mlmmj's hundred nothing.
mkdir "$SD/sink"
sinkuser=()
if [ "$(id -u)" -eq 0 ]; then sinkuser=(-u nobody); chown nobody "$SD/sink"; fi
# TZ set: glibc's localtime, called three times a message (the dump file's
# name template twice, the Received date once), would otherwise stat
# /etc/localtime each time (3 % of the sink's CPU, which for relais's 10,000
# transactions shares the cores with the sender).
(cd "$SD/sink" && TZ=UTC exec smtp-sink "${sinkuser[@]}" -D "$SD/sink/dump" "127.0.0.1:$SINK" 1000 >"$W/sink.log" 2>&1) &
SPID=$!
wait_port "$SINK"

# CPU time (s) a process has used so far: for relais, and for the sink, whose
# share of the wall time says whether it, not the sender, set the pace.
TCK=$(getconf CLK_TCK)
cpu() { awk -v t="$TCK" '{printf "%.3f", ($14+$15)/t}' "/proc/$1/stat"; }

declare -A SECS COPIES TX DISTINCT RSS CPU SINKCPU
# result SIDE OFFSET T0 T1 MEMBERSFILE RSSKB CPUSECONDS SINKCPUSECONDS: check
# the dump and record.
result() {
  local c
  c=($(python3 "$W/check.py" "$SD/sink/dump" "$2" "$5"))
  TX[$1]=${c[0]}; COPIES[$1]=${c[1]}; DISTINCT[$1]=${c[2]}; RSS[$1]=$6; CPU[$1]=$7; SINKCPU[$1]=$8
  SECS[$1]=$(awk -v a="$3" -v b="$4" 'BEGIN{printf "%.3f", b-a}')
  [ "${c[3]}" -eq 0 ] || echo "warning: $1: ${c[3]} members got nothing" >&2
  [ "${c[4]}" -eq 0 ] || echo "warning: $1: ${c[4]} extra or duplicate recipients" >&2
  [ "${c[6]}" -eq 0 ] || echo "note: $1: also ${c[6]} transactions to non-members (owner, poster…)" >&2
  echo "$1: ${c[1]} recipients in ${c[0]} transactions (at most ${c[5]} per transaction), ${c[2]} distinct messages, ${SECS[$1]} s" >&2
}

# --- mlmmj -------------------------------------------------------------------
# mlmmj_list NAME MEMBERSFILE [fast]: a list in $W/mlmmj relaying to the sink.
mlmmj_list() {
  local d="$W/mlmmj/$1"
  mkdir -p "$W/mlmmj"
  # mlmmj-make-ml only asks questions: domain, owner, language of the texts.
  printf 'lists.example\nowner@bench.example\nen\n' | mlmmj-make-ml -L "$1" -s "$W/mlmmj" >"$W/mlmmj-make-ml.log" 2>&1
  [ -f "$d/control/listaddress" ] || { cat "$W/mlmmj-make-ml.log" >&2; echo "mlmmj-make-ml failed" >&2; exit 1; }
  cp "$2" "$d/subscribers.d/m"   # one file per first letter: every member is m…
  echo 127.0.0.1 >"$d/control/relayhost"
  echo "$SINK" >"$d/control/smtpport"
  if [ "${3:-}" = fast ]; then
    : >"$d/control/verp"
    echo "$VERPRECIPS" >"$d/control/maxverprecips"
  fi
}

# mlmmj_run SIDE NAME MEMBERSFILE: deliver one post through mlmmj.
mlmmj_run() {
  local d="$W/mlmmj/$2" n off t1 s0 r
  n=$(wc -l <"$3")
  post "$2@lists.example" "$2.$$@example.org" "$W/post-$2.eml"
  off=$(dumpsize)
  s0=$(cpu "$SPID")
  python3 "$W/run.py" "$W/$2.rss" "$W/$2.t0" /usr/bin/mlmmj-receive -F -s poster@example.org -L "$d" <"$W/post-$2.eml" &
  MPID=$!
  if ! t1=$(python3 "$W/watch.py" "$SD/sink/dump" "$off" "$n" "$IDLE"); then
    echo "mlmmj ($2) did not deliver; its log:" >&2; cat "$d/mlmmj.operation.log" >&2 2>/dev/null || true; exit 1
  fi
  wait "$MPID" || { echo "mlmmj-receive failed" >&2; exit 1; }
  MPID=
  r=($(cat "$W/$2.rss"))
  result "$1" "$off" "$(cat "$W/$2.t0")" "$t1" "$3" "${r[0]}" "${r[1]}" "$(awk -v a="$s0" -v b="$(cpu "$SPID")" 'BEGIN{print b-a}')"
}

if [ "$ONLY" != relais ]; then
  echo "mlmmj: default mode, $SAMPLE members (about 23 recipients/s: ~$((SAMPLE / 23 + 1)) s)…" >&2
  mlmmj_list fr-bench-default "$W/sample.txt"
  mlmmj_run default fr-bench-default "$W/sample.txt"
  echo "mlmmj: VERP handed to the MTA, $VERPRECIPS recipients per transaction, $MEMBERS members…" >&2
  mlmmj_list fr-bench "$W/members.txt" fast
  mlmmj_run fast fr-bench "$W/members.txt"
fi

# --- relais ------------------------------------------------------------------
if [ "$ONLY" != mlmmj ]; then
  if [ -n "${RELAIS_BIN:-}" ]; then
    cp "$RELAIS_BIN" "$W/relais" # a binary built before, to compare two
  else
    echo "building relais…" >&2
    go build -o "$W/relais" ./cmd/relais
  fi
  D="$W/relais-data"
  "$W/relais" list create fr.bench --policy open --auth off --owner owner@bench.example --data "$D" >/dev/null
  t0=$(date +%s.%N)
  "$W/relais" list subscribe fr.bench --consent "benchmark" --file "$W/members.txt" --data "$D" >/dev/null
  t1=$(date +%s.%N)
  "$W/relais" group add 4405.probe --name Probe --animator probe@probe.example --data "$D" >/dev/null
  echo "relais: subscribed $MEMBERS members in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s" >&2
  RL=$(port); RW=$(port)
  # The poster's DMARC policy is asked of a local server that answers
  # NXDOMAIN at once (bench/nxdns.py): the machine's own DNS is not measured.
  python3 bench/nxdns.py "$DNS" &
  DPID=$!
  env RELAIS_DOMAINS=hub.example RELAIS_DATA_DIR="$D" RELAIS_SMTP_LISTEN="127.0.0.1:$RL" \
    RELAIS_RELAY_ADDRESS="127.0.0.1:$SINK" RELAIS_RELAY_STARTTLS=off RELAIS_METRICS_LISTEN= RELAIS_WEB_LISTEN="127.0.0.1:$RW" RELAIS_AUTH_DNS_SERVER="127.0.0.1:$DNS" \
    RELAIS_CPUPROFILE="${PROFILE:-}" \
    "$W/relais" serve 2>"$W/relais.log" &
  RPID=$!
  for _ in $(seq 300); do grep -qs "listening smtp=" "$W/relais.log" && break; kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
  grep -qs "listening smtp=" "$W/relais.log" || { echo "relais serve did not start:" >&2; cat "$W/relais.log" >&2; exit 1; }
  idle=$(awk '/VmHWM/{print $2}' "/proc/$RPID/status")
  post fr.bench@hub.example "relais.$$@example.org" "$W/post-relais.eml"
  off=$(dumpsize)
  s0=$(cpu "$SPID"); r0=$(cpu "$RPID")
  echo "relais: one post to $MEMBERS members…" >&2
  python3 "$W/send.py" "$RL" poster@example.org fr.bench@hub.example "$W/post-relais.eml" "$W/relais.t0" ||
    { echo "relais refused the post; its log:" >&2; tail -20 "$W/relais.log" >&2; exit 1; }
  if [ "${PROBE:-1}" != 0 ]; then
    python3 "$W/probe.py" "$RL" "$W/probe.stop" >"$W/probe.out" &
    PRPID=$!
  fi
  if ! t1=$(python3 "$W/watch.py" "$SD/sink/dump" "$off" "$MEMBERS" "$IDLE"); then
    echo "relais did not deliver to every member; the end of its log:" >&2; tail -20 "$W/relais.log" >&2
    echo "what the sink got that was not for a member:" >&2; python3 "$W/others.py" "$SD/sink/dump" "$off" >&2; exit 1
  fi
  peak=$(awk '/VmHWM/{print $2}' "/proc/$RPID/status")
  if [ -n "${PRPID:-}" ]; then
    touch "$W/probe.stop"; wait "$PRPID" || true; PRPID=
    PROBED=($(cat "$W/probe.out"))
  fi
  result relais "$off" "$(cat "$W/relais.t0")" "$t1" "$W/members.txt" "$peak" \
    "$(awk -v a="$r0" -v b="$(cpu "$RPID")" 'BEGIN{print b-a}')" "$(awk -v a="$s0" -v b="$(cpu "$SPID")" 'BEGIN{print b-a}')"
  echo "relais: resident at start $(mb "$idle") MB" >&2
  awk -v x="${SECS[relais]}" -v u="${CPU[relais]}" -v k="${SINKCPU[relais]}" 'BEGIN{exit !(x > 4*(u+k))}' &&
    echo "note: relais and the sink were idle most of the time: a stalled queue? (KEEP=1 keeps relais.log)" >&2
fi

# --- report ------------------------------------------------------------------
# The host's hour: the same binary here moved 9 % between two hours of one day,
# and so did this (RSA in libcrypto on one core, one second, after the runs).
# Compare runs of different hours with it and the sink's CPU a copy.
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)
RSA=$(openssl speed -seconds 1 rsa2048 2>/dev/null | awk '$1 == "rsa" && $2 == 2048 {printf "%.0f", $6}')
printf "\nOne %d-byte post to a list, loopback into smtp-sink, %s cores (%s), load at start %s, at the end %s\n" \
  "$(wc -c <"$(ls "$W"/post-*.eml | head -1)")" "$(nproc)" "$(date -u +%F)" "$LOAD0" "$LOAD1"
[ -n "$RSA" ] && printf "the host: openssl speed rsa2048, one core, after the runs: %s signatures/s\n" "$RSA"
printf "distinct: byte-distinct messages received; CPU: the sender's CPU seconds; sink: smtp-sink's CPU share of the wall time\n"
printf "\n%-34s %10s %8s %9s %8s %8s %8s %7s %5s\n" side recipients "SMTP tx" distinct seconds "rcpt/s" "peak MB" "CPU s" sink
row() {
  [ -n "${SECS[$1]:-}" ] || return 0
  awk -v s="$2" -v c="${COPIES[$1]}" -v t="${TX[$1]}" -v d="${DISTINCT[$1]}" -v x="${SECS[$1]}" -v r="${RSS[$1]}" \
    -v u="${CPU[$1]}" -v k="${SINKCPU[$1]}" \
    'BEGIN{printf "%-34s %10d %8d %9d %8.2f %8.0f %8.1f %7.2f %4.0f%%\n", s, c, t, d, x, c/x, r/1024, u, 100*k/x}'
}
row relais "relais (a personal copy each)"
row fast "mlmmj fast (VERP off, $VERPRECIPS rcpt/tx)"
row default "mlmmj default (1 rcpt/tx)"
if [ -n "${SECS[relais]:-}" ]; then
  awk -v c="${CPU[relais]}" -v k="${SINKCPU[relais]}" -v n="${COPIES[relais]}" \
    'BEGIN{printf "\nrelais: %.3f ms of CPU per copy (smtp-sink %.3f ms)\n", 1000*c/n, 1000*k/n}'
  [ -n "${PROBED[0]:-}" ] && printf "intake during the fan-out: %d messages (one every 100 ms), to 250: median %s ms, p95 %s ms, max %s ms\n" \
    "${PROBED[0]}" "${PROBED[1]}" "${PROBED[2]}" "${PROBED[3]}"
fi
if [ -n "${SECS[relais]:-}" ]; then
  rate() { awk -v c="${COPIES[$1]}" -v x="${SECS[$1]}" 'BEGIN{print c/x}'; }
  echo
  for m in fast default; do   # recipients per second
    [ -n "${SECS[$m]:-}" ] || continue
    awk -v a="$(rate relais)" -v b="$(rate $m)" -v m="$m" 'BEGIN{printf "relais / mlmmj %-8s %8.2fx\n", m":", a/b}'
  done
fi
