package mailauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	gdkim "github.com/emersion/go-msgauth/dkim"

	"codeberg.org/relais/relais/dkim"
)

// world is a small DNS: exemple.fr sends from 192.0.2.10 and signs with
// DKIM; its DMARC policy is given per test.
type world struct {
	dns    *StaticResolver
	signer *dkim.Signer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	if _, err := dkim.Generate(dir, "exemple.fr", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := dkim.Generate(dir, "other.example", time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, err := dkim.Keys(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &StaticResolver{}
	for _, k := range keys {
		r.Set(k.Name(), k.Record())
	}
	r.Set("exemple.fr", "v=spf1 ip4:192.0.2.10 -all")
	r.Set("soft.example", "v=spf1 ip4:192.0.2.10 ~all")
	r.Set("lists.exemple.fr", "v=spf1 a:mx.exemple.fr -all")
	r.SetIP("mx.exemple.fr", "192.0.2.20")
	s, err := dkim.NewSigner(dir, "exemple.fr", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &world{dns: r, signer: s}
}

func message(from string) []byte {
	return []byte("From: Nadia <" + from + ">\r\nTo: 4405.nantes-sud@hub.example\r\n" +
		"Subject: Réunion\r\nDate: Sat, 21 Nov 2026 10:00:00 +0100\r\nMessage-ID: <m1@exemple.fr>\r\n\r\nSamedi 14h.\r\n")
}

func TestSPF(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, c := range []struct {
		ip, from, want string
	}{
		{"192.0.2.10", "nadia@exemple.fr", "pass"},
		{"198.51.100.7", "nadia@exemple.fr", "fail"},
		{"198.51.100.7", "x@soft.example", "softfail"},
		{"198.51.100.7", "x@nospf.example", "none"},
		{"192.0.2.20", "x@lists.exemple.fr", "pass"}, // a: mechanism, through LookupIPAddr
		{"192.0.2.10", "", "none"},                   // null sender: postmaster@HELO, which has no SPF
	} {
		res := Check(ctx, w.dns, Input{IP: net.ParseIP(c.ip), Helo: "client.example.org", MailFrom: c.from, Message: message("nadia@exemple.fr")})
		if res.SPF != c.want {
			t.Errorf("SPF for %s from %s: %s, want %s", c.from, c.ip, res.SPF, c.want)
		}
	}
	// The DNS failing for now is a temperror, not a fail.
	res := Check(ctx, &failing{}, Input{IP: net.ParseIP("192.0.2.10"), Helo: "h", MailFrom: "nadia@exemple.fr", Message: message("nadia@exemple.fr")})
	if res.SPF != "temperror" || res.DMARC != "temperror" || res.Proven() {
		t.Errorf("DNS down: %+v", res)
	}
}

func TestDKIMAndDMARC(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	stranger := net.ParseIP("198.51.100.7")
	signed, err := w.signer.Sign(message("nadia@exemple.fr"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(ip net.IP, mailFrom string, msg []byte) Result {
		return Check(ctx, w.dns, Input{IP: ip, Helo: "client.example.org", MailFrom: mailFrom, Message: msg})
	}

	// No DMARC record: "none", yet proven when SPF or DKIM is aligned.
	res := check(stranger, "bounce@other.example", signed)
	if len(res.DKIM) != 2 || res.DKIM[0].Result != "pass" || res.DKIM[1].Result != "pass" || res.DKIM[0].Domain != "exemple.fr" {
		t.Fatalf("DKIM: %+v", res.DKIM)
	}
	if res.DMARC != "none" || !res.Aligned || res.Identity != "dkim" || !res.Proven() {
		t.Errorf("no DMARC, aligned DKIM: %+v", res)
	}
	altered := bytes.Replace(signed, []byte("Samedi 14h."), []byte("Dimanche 9h."), 1)
	res = check(stranger, "bounce@other.example", altered)
	if res.DKIM[0].Result != "fail" || res.DKIM[1].Result != "fail" || res.Aligned || res.Proven() {
		t.Errorf("body altered: %+v", res)
	}
	if res := check(stranger, "nadia@exemple.fr", message("nadia@exemple.fr")); res.Proven() || res.SPF != "fail" || !res.Failed() {
		t.Errorf("forged, no DMARC: %+v", res)
	}

	w.dns.Set("_dmarc.exemple.fr", "v=DMARC1; p=reject")
	// Pass through SPF alone (unsigned, from the domain's server).
	res = check(net.ParseIP("192.0.2.10"), "nadia@exemple.fr", message("nadia@exemple.fr"))
	if res.DMARC != "pass" || res.Identity != "spf" || res.Policy != "reject" {
		t.Errorf("DMARC via SPF: %+v", res)
	}
	// SPF relaxed alignment: a bounce domain under the same organisational
	// domain aligns.
	res = check(net.ParseIP("192.0.2.20"), "bounces@lists.exemple.fr", message("nadia@exemple.fr"))
	if res.DMARC != "pass" || res.Identity != "spf" {
		t.Errorf("DMARC via relaxed SPF: %+v", res)
	}
	// Pass through DKIM alone, from a stranger's server (a forwarder).
	res = check(stranger, "bounce@other.example", signed)
	if res.DMARC != "pass" || res.Identity != "dkim" || res.SPF != "none" {
		t.Errorf("DMARC via DKIM: %+v", res)
	}
	// A signature of another domain does not align.
	other, err := signAs(t, w, "other.example", message("nadia@exemple.fr"))
	if err != nil {
		t.Fatal(err)
	}
	res = check(stranger, "bounce@other.example", other)
	if res.DMARC != "fail" || res.Proven() || res.Policy != "reject" {
		t.Errorf("DMARC with an unaligned signature: %+v", res)
	}
	// The forgery DMARC exists for.
	res = check(stranger, "nadia@exemple.fr", message("nadia@exemple.fr"))
	if res.DMARC != "fail" || res.SPF != "fail" || !res.Failed() || res.Proven() {
		t.Errorf("forged with p=reject: %+v", res)
	}
	// Strict SPF alignment: the subdomain no longer aligns.
	w.dns.Set("_dmarc.exemple.fr", "v=DMARC1; p=quarantine; aspf=s")
	res = check(net.ParseIP("192.0.2.20"), "bounces@lists.exemple.fr", message("nadia@exemple.fr"))
	if res.DMARC != "fail" || res.Policy != "quarantine" {
		t.Errorf("strict SPF alignment: %+v", res)
	}
	// Two From addresses: DMARC cannot say.
	two := []byte(strings.Replace(string(message("nadia@exemple.fr")), "From: Nadia <nadia@exemple.fr>", "From: nadia@exemple.fr, x@evil.example", 1))
	if res := check(net.ParseIP("192.0.2.10"), "nadia@exemple.fr", two); res.DMARC != "permerror" || res.Proven() {
		t.Errorf("two From: %+v", res)
	}
}

// signAs signs msg with the keys of domain (the signer signs with its
// fallback when From is not one of its domains).
func signAs(t *testing.T, w *world, domain string, msg []byte) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	if _, err := dkim.Generate(dir, domain, time.Now()); err != nil {
		t.Fatal(err)
	}
	keys, _ := dkim.Keys(dir)
	for _, k := range keys {
		w.dns.Set(k.Name(), k.Record())
	}
	s, err := dkim.NewSigner(dir, domain, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.Sign(msg)
}

func TestFieldReadStrip(t *testing.T) {
	w := newWorld(t)
	w.dns.Set("_dmarc.exemple.fr", "v=DMARC1; p=none")
	signed, _ := w.signer.Sign(message("nadia@exemple.fr"))
	res := Check(context.Background(), w.dns, Input{IP: net.ParseIP("192.0.2.10"), Helo: "c", MailFrom: "nadia@exemple.fr", Message: signed})
	field := res.Field("mx.hub.example")
	want := "Authentication-Results: mx.hub.example;\r\n\tspf=pass smtp.mailfrom=exemple.fr;\r\n\tdkim=pass header.d=exemple.fr;\r\n\tdkim=pass header.d=exemple.fr;\r\n\tdmarc=pass header.from=exemple.fr\r\n"
	if field != want {
		t.Errorf("field:\n%q\nwant\n%q", field, want)
	}

	// Someone outside claims our verdict, twice, once folded; another
	// server's field stays.
	forged := "Authentication-Results: mx.hub.example; dmarc=pass header.from=exemple.fr\r\n" +
		"Authentication-Results: mx.exemple.fr; spf=pass smtp.mailfrom=exemple.fr\r\n" +
		"Authentication-Results: MX.HUB.EXAMPLE (forged);\r\n\tdkim=pass header.d=exemple.fr\r\n"
	in := append([]byte(forged), message("nadia@exemple.fr")...)
	stripped := Strip(in, "mx.hub.example")
	if got := string(stripped); got != "Authentication-Results: mx.exemple.fr; spf=pass smtp.mailfrom=exemple.fr\r\n"+string(message("nadia@exemple.fr")) {
		t.Errorf("stripped:\n%s", got)
	}
	if _, ok := Read(stripped, "mx.hub.example"); ok {
		t.Error("a verdict read where there is none of ours")
	}
	if !bytes.Equal(Strip(signed, "mx.hub.example"), signed) {
		t.Error("a message without such fields changed")
	}
	// Field then Read gives the verdict back.
	got, ok := Read(append([]byte(field), stripped...), "mx.hub.example")
	if !ok || got.DMARC != "pass" || got.SPF != "pass" || len(got.DKIM) != 2 || got.From != "exemple.fr" || !got.Proven() {
		t.Errorf("read back: %+v %v", got, ok)
	}
	// A verdict of none, aligned by SPF only, reads back as proven; one
	// with an unaligned SPF pass does not.
	none := Result{SPF: "pass", SPFFrom: "lists.exemple.fr", DMARC: "none", From: "exemple.fr"}
	if got, _ := Read([]byte(none.Field("h")+"\r\n"), "h"); !got.Proven() {
		t.Errorf("aligned SPF, no DMARC: %+v", got)
	}
	none.SPFFrom = "other.example"
	if got, _ := Read([]byte(none.Field("h")+"\r\n"), "h"); got.Proven() {
		t.Errorf("unaligned SPF, no DMARC: %+v", got)
	}
}

// signWith signs msg as an outside sender would, with go-msgauth and an
// Ed25519 key published under sel._domainkey.exemple.fr.
func signWith(t *testing.T, r *StaticResolver, sel string, headerCanon gdkim.Canonicalization, keys []string, msg []byte) []byte {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	r.Set(sel+"._domainkey.exemple.fr", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub))
	var out bytes.Buffer
	if err := gdkim.Sign(&out, bytes.NewReader(msg), &gdkim.SignOptions{Domain: "exemple.fr", Selector: sel, Signer: priv,
		HeaderCanonicalization: headerCanon, BodyCanonicalization: gdkim.CanonicalizationSimple, HeaderKeys: keys}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// folded is a field folded over n lines.
func folded(name string, n int) string {
	var b strings.Builder
	b.WriteString(name + ": start\r\n")
	for range n - 1 {
		b.WriteString("\t" + strings.Repeat("x", 60) + "\r\n")
	}
	return b.String()
}

// TestDKIMFoldedAndOversized: the verifier gives go-msgauth only what the
// signatures cover, unfolded for relaxed ones; verdicts must be those of
// the whole message, and inputs beyond the limits permerror, not minutes.
func TestDKIMFoldedAndOversized(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	check := func(msg []byte) []DKIM {
		return Check(ctx, w.dns, Input{IP: net.ParseIP("198.51.100.7"), Helo: "h.example", MailFrom: "b@other.example", Message: msg}).DKIM
	}
	base := "From: Nadia <nadia@exemple.fr>\r\nTo: 4405.nantes-sud@hub.example\r\n" + folded("X-Unsigned", 5000) +
		folded("Subject", 2000) + "Date: Sat, 21 Nov 2026 10:00:00 +0100\r\n\r\nSamedi 14h.\r\n"

	relaxed := signWith(t, w.dns, "r", gdkim.CanonicalizationRelaxed, []string{"From", "Subject", "Date"}, []byte(base))
	if got := check(relaxed); len(got) != 1 || got[0].Result != "pass" || got[0].Domain != "exemple.fr" {
		t.Errorf("relaxed over a field of 2,000 lines: %+v", got)
	}
	altered := bytes.Replace(relaxed, []byte("Subject: start"), []byte("Subject: stars"), 1)
	if got := check(altered); len(got) != 1 || got[0].Result != "fail" {
		t.Errorf("relaxed, signed field altered: %+v", got)
	}

	simple := signWith(t, w.dns, "s", gdkim.CanonicalizationSimple, []string{"From", "Date"}, []byte(base))
	if got := check(simple); len(got) != 1 || got[0].Result != "pass" {
		t.Errorf("simple, long fields unsigned: %+v", got)
	}
	refolded := bytes.Replace(simple, []byte("Date: Sat,"), []byte("Date:\r\n Sat,"), 1)
	if got := check(refolded); len(got) != 1 || got[0].Result != "fail" {
		t.Errorf("simple, signed field refolded: %+v", got)
	}
	simpleLong := signWith(t, w.dns, "s2", gdkim.CanonicalizationSimple, []string{"From", "Subject"}, []byte(base))
	if got := check(simpleLong); len(got) != 1 || got[0].Result != "permerror" || !strings.Contains(got[0].Reason, "folded") {
		t.Errorf("simple over a field of 2,000 lines: %+v", got)
	}

	// Both kinds on one message, and a signature that covers the other's
	// DKIM-Signature field.
	both := signWith(t, w.dns, "r2", gdkim.CanonicalizationRelaxed, []string{"From", "DKIM-Signature"}, simple)
	if got := check(both); len(got) != 2 || got[0].Result != "pass" || got[1].Result != "pass" {
		t.Errorf("relaxed over simple: %+v", got)
	}

	huge := []byte("DKIM-Signature: v=1; a=ed25519-sha256; d=exemple.fr; s=r; h=from; bh=x; b=" + strings.Repeat("A", 20000) + "\r\n" + base)
	if got := check(huge); len(got) != 1 || got[0].Result != "permerror" {
		t.Errorf("signature field of 20 KB: %+v", got)
	}
	many := []byte("DKIM-Signature: v=1; a=ed25519-sha256; d=exemple.fr; s=r; h=from" + strings.Repeat(":x", 200) + "; bh=x; b=x\r\n" + base)
	if got := check(many); len(got) != 1 || got[0].Result != "permerror" {
		t.Errorf("200 signed names: %+v", got)
	}
	if got := check([]byte(base)); len(got) != 0 {
		t.Errorf("no signature: %+v", got)
	}
}

// BenchmarkCheckHeader: the inbound check (SPF, DKIM, DMARC, and the
// removal of forged verdicts) of a message whose header holds one field
// folded over lines of 64 characters, from 16 KB to 1 MB, signed or not.
// Linear work shows as the same MB/s at every size. "library" gives
// go-msgauth the whole message, as the check did before: its cost grows
// with the square of the field (run with -bench 'CheckHeader/library' to
// see it; it is left out of the 1 MB size, which takes seconds).
func BenchmarkCheckHeader(b *testing.B) {
	w := &world{dns: &StaticResolver{}}
	w.dns.Set("exemple.fr", "v=spf1 ip4:192.0.2.10 -all")
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		for _, signed := range []bool{false, true} {
			sig := ""
			if signed {
				sig = "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=exemple.fr; s=s; h=from:subject:x-long; bh=x; b=y\r\n"
			}
			msg := []byte(sig + "From: Nadia <nadia@exemple.fr>\r\nSubject: long\r\n" + folded("X-Long", size/62) + "\r\nSamedi.\r\n")
			in := Input{IP: net.ParseIP("192.0.2.10"), Helo: "mx.exemple.fr", MailFrom: "nadia@exemple.fr", Message: msg}
			name := fmt.Sprintf("size=%dKB/signed=%v", size>>10, signed)
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					Strip(msg, "mx.hub.example")
					Check(context.Background(), w.dns, in)
				}
			})
			if size > 256<<10 {
				continue
			}
			b.Run("library/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					gdkim.VerifyWithOptions(bytes.NewReader(msg), &gdkim.VerifyOptions{
						LookupTXT: func(name string) ([]string, error) { return w.dns.LookupTXT(context.Background(), name) },
					})
				}
			})
		}
	}
}
