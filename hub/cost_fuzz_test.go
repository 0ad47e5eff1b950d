package hub

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/internal/mimetext"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/smtpd"
	"codeberg.org/relais/relais/tickets"
)

// inboundWork is everything the hub does to read a message it receives:
// what smtpd checks before storing it, the SPF, DKIM and DMARC check and
// the forged-verdict removal (the checker), and the readers of its MIME
// that lists, the desk and the agenda use. No store, no queue: the cost of
// reading.
func inboundWork(chk *checker, msg []byte) {
	smtpd.Inspect(msg, 0, true, []string{"4405.nantes-sud@hub.example"})
	env := &smtpd.Envelope{ID: "ID", From: "nadia@exemple.fr", RemoteIP: "127.0.0.1", Helo: "mx.exemple.fr", SMTPUTF8: true}
	chk.Check(context.Background(), env, msg)
	lists.Problem(msg, true)
	mimetext.First(msg, 64<<10)
	c := tickets.Read(msg)
	tickets.Trim(c.Text)
	events.FromMessage(msg, time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
}

var (
	costOnce sync.Once
	costChk  *checker
)

// costChecker is a checker on a DNS where exemple.fr signs with an
// Ed25519 key (so that DKIM does its hashing) and passes SPF from
// 127.0.0.1.
func costChecker() *checker {
	costOnce.Do(func() {
		dns := &mailauth.StaticResolver{}
		pub := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
		dns.Set("s._domainkey.exemple.fr", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub))
		dns.Set("exemple.fr", "v=spf1 ip4:127.0.0.1 -all")
		cfg := config.Default()
		cfg.Domains = []string{domain}
		costChk = &checker{h: &Hub{Config: cfg, log: discard()}, dns: dns, id: "mx.hub.example"}
	})
	return costChk
}

// allocated is the memory allocated by f: a count, unlike time, that the
// other core and the scheduler do not blur, and that grows with the square
// of the input where work does (a field rebuilt for each of its lines).
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	// A collection first empties the sync.Pools, which would otherwise
	// serve some runs and not others.
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// costRatios measures the inbound work on head + frag×n + tail for n = 0,
// 64 and 512, and compares what the repeated part costs at 512 with what
// it costs at 64: for work linear in the size, about 8.
func costRatios(chk *checker, head, frag, tail []byte) (alloc, elapsed float64, size int) {
	build := func(n int) []byte {
		return append(append(append([]byte{}, head...), bytes.Repeat(frag, n)...), tail...)
	}
	inboundWork(chk, build(128)) // first calls initialise tables, once
	var a [3]uint64
	var d [3]time.Duration
	var large []byte
	for i, n := range []int{0, 128, 1024} {
		msg := build(n)
		large = msg
		// The least of five runs: other goroutines of the process (the
		// race detector's, other tests') only ever add to the count.
		for k := range 5 {
			var took time.Duration
			got := allocated(func() { t := time.Now(); inboundWork(chk, msg); took = time.Since(t) })
			if k == 0 || got < a[i] {
				a[i] = got
			}
			if k == 0 || took < d[i] {
				d[i] = took
			}
		}
	}
	// What the repeated part costs at 512 against what it costs at 64,
	// less the noise of the runtime and of other goroutines (a few tens of
	// kilobytes; more under the race detector): linear work gives about 8,
	// work that grows with its square 64.
	const noise = 128 << 10
	inc128, inc1024 := float64(a[1])-float64(a[0]), float64(a[2])-float64(a[0])
	alloc = (inc1024 - noise) / max(inc128+noise, float64(128*len(frag)))
	if os.Getenv("COSTDEBUG") != "" {
		fmt.Println(a, d)
	}
	elapsed = float64(max(d[2]-d[0], 0)) / float64(max(d[1]-d[0], 0)+time.Microsecond)
	return alloc, elapsed, len(large)
}

// costSeeds are messages whose repeated part once cost the square of its
// size or might: a field folded over many lines, signed (relaxed and
// simple) or not, many fields, nested and repeated MIME parts, HTML,
// quoted-printable soft breaks, encoded words, calendars.
var costSeeds = [][3]string{
	{"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=exemple.fr; s=s; h=from:subject:x-long; bh=x; b=y\r\nFrom: Nadia <nadia@exemple.fr>\r\nX-Long: a\r\n", "\txxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", "Subject: s\r\n\r\nbody\r\n"},
	{"DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; d=exemple.fr; s=s; h=from:x-long; bh=x; b=y\r\nFrom: nadia@exemple.fr\r\nX-Long: a\r\n", "\txxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", "\r\nbody\r\n"},
	{"From: nadia@exemple.fr\r\n", "X-Many: yyyyyyyyyyyyyyyyyyyy\r\n", "\r\nbody\r\n"},
	{"From: nadia@exemple.fr\r\n", "Delivered-To: someone@example.org\r\n", "\r\nbody\r\n"},
	{"From: nadia@exemple.fr\r\nTo: a@example.org", ",\r\n b@example.org", "\r\n\r\nbody\r\n"},
	{"From: nadia@exemple.fr\r\nSubject: ", "=?utf-8?q?R=C3=A9union?= ", "\r\n\r\nbody\r\n"},
	{"From: nadia@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n", "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n", "--b--\r\n"},
	{"From: nadia@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n", "--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n", "--b--\r\n"},
	{"From: nadia@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>", "<div><p>texte <b>gras</b></p>", "</body></html>\r\n"},
	{"From: nadia@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", "r=C3=A9union =\r\n", "\r\n"},
	{"From: nadia@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n", "> > > quoted line\r\n", "-- \r\nsig\r\n"},
	{"From: nadia@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\n", "BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20261205T180000Z\r\nSUMMARY:R\r\nEND:VEVENT\r\n", "END:VCALENDAR\r\n"},
	{"From: nadia@exemple.fr\r\nAuthentication-Results: mx.hub.example; dkim=pass\r\n", "Authentication-Results: mx.hub.example;\r\n dkim=pass\r\n", "\r\nbody\r\n"},
	// Review of issue 12: the desk joined text parts, and rendered HTML,
	// by copying all it had for each part or line break (tickets'
	// TestReadCostLinear measures them at sizes where it shows).
	{"From: nadia@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n", "--b\r\n\r\nx\r\n", "--b--\r\n"},
	{"From: nadia@exemple.fr\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>", "a <br>", "</body></html>\r\n"},
}

// maxCostRatio is the ratio of allocations beyond which work is taken to
// grow faster than the input: 8 for linear work, up to 16 with slices
// that double as they grow; the square of the input gives 64.
const maxCostRatio = 16

// TestInboundCostLinear runs the seeds of FuzzInboundCost: each must cost,
// in allocations, no more than linearly in the size of its repeated part.
func TestInboundCostLinear(t *testing.T) {
	chk := costChecker()
	for i, s := range costSeeds {
		alloc, elapsed, size := costRatios(chk, []byte(s[0]), []byte(s[1]), []byte(s[2]))
		t.Logf("seed %d: %d bytes, allocations ×%.1f, time ×%.1f for 8× the repeated part", i, size, alloc, elapsed)
		if alloc > maxCostRatio {
			t.Errorf("seed %d: allocations grow %.1f× for 8× the input", i, alloc)
		}
	}
}

// FuzzInboundCost looks for a message part whose repetition costs more
// than linearly: the fuzzer chooses a head, a part repeated 64 then 512
// times, and a tail. Allocations are asserted; with RELAIS_COST_LOG set
// to a file, every ratio is appended there (allocations and time) for the
// worst to be read after a long run.
func FuzzInboundCost(f *testing.F) {
	for _, s := range costSeeds {
		f.Add([]byte(s[0]), []byte(s[1]), []byte(s[2]))
	}
	chk := costChecker()
	logFile := os.Getenv("RELAIS_COST_LOG")
	f.Fuzz(func(t *testing.T, head, frag, tail []byte) {
		if len(head) > 4096 || len(frag) > 256 || len(tail) > 4096 || len(frag) == 0 {
			return
		}
		alloc, elapsed, size := costRatios(chk, head, frag, tail)
		if logFile != "" {
			if fh, err := os.OpenFile(logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
				fmt.Fprintf(fh, "%.2f %.2f %d %q\n", alloc, elapsed, size, strings.ToValidUTF8(string(frag), "?"))
				fh.Close()
			}
		}
		if alloc > maxCostRatio {
			t.Fatalf("allocations grow %.1f× for 8× the repeated part %q (head %q)", alloc, frag, head)
		}
	})
}
