package doctor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/zone"
)

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// keysDir is where setup made the keys.
var keysDir string

// certFile writes a certificate for names, valid until notAfter.
func certFile(t *testing.T, notAfter time.Time, names ...string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notAfter.AddDate(0, -3, 0), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "fullchain.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// setup is a hub whose DNS is published as `relais dns` prints it, whose
// relay answers and whose certificate and web address are right.
func setup(t *testing.T) (*Doctor, Setup, *mailauth.StaticResolver) {
	t.Helper()
	keysDir = t.TempDir()
	keys, err := dkim.Generate(keysDir, "hub.example", now)
	if err != nil {
		t.Fatal(err)
	}
	plan := zone.Plan{Domain: "hub.example", MX: "mx.hub.example", SPF: "ip4:203.0.113.10", Keys: keys}
	dns := &mailauth.StaticResolver{}
	for _, r := range zone.Records(plan) {
		if r.Type == "MX" {
			dns.SetMX("hub.example", "mx.hub.example")
			continue
		}
		dns.Set(strings.TrimSuffix(r.Name, "."), r.Value)
	}
	relay, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	d := &Doctor{DNS: dns, Now: func() time.Time { return now },
		LocalIPs: func() ([]net.IP, error) { return []net.IP{net.ParseIP("127.0.0.1")}, nil }}
	s := Setup{Plan: plan, Hostname: "mx.hub.example", Relay: relay.Addr(), Listens: []string{":25"},
		CertFile: certFile(t, now.AddDate(0, 2, 0), "mx.hub.example"), BaseURL: "https://listes.hub.example"}
	return d, s, dns
}

func TestCorrectSetupReportsNothing(t *testing.T) {
	d, s, _ := setup(t)
	if fs := d.Check(context.Background(), s); len(fs) != 0 {
		t.Fatalf("findings on a correct setup: %v", fs)
	}
}

// Each fault is reported once, with its fix.
func TestFaultsReportedWithTheirFix(t *testing.T) {
	ctx := context.Background()
	t.Run("missing DKIM record", func(t *testing.T) {
		d, s, dns := setup(t)
		k := s.Plan.Keys[0]
		dns.Set(k.Name()) // no record any more
		fs := d.Check(ctx, s)
		want := Finding{Check: "dkim", Severity: Error,
			Problem: "no DKIM record at " + k.Name() + ": mail the hub signs with this key fails DKIM, and DMARC with it",
			Fix:     "publish " + zone.Records(s.Plan)[2].Line(3600)}
		if len(fs) != 1 || fs[0] != want {
			t.Fatalf("got %v\nwant %v", fs, want)
		}
	})
	t.Run("wrong SPF", func(t *testing.T) {
		d, s, dns := setup(t)
		dns.Set("hub.example", "v=spf1 include:_spf.google.com ~all")
		fs := d.Check(ctx, s)
		want := Finding{Check: "spf", Severity: Error,
			Problem: `the SPF record of hub.example is "v=spf1 include:_spf.google.com ~all"; the hub's relay sends as "v=spf1 ip4:203.0.113.10 -all"`,
			Fix:     "replace it: hub.example.\t3600\tIN\tTXT\t\"v=spf1 ip4:203.0.113.10 -all\""}
		if len(fs) != 1 || fs[0] != want {
			t.Fatalf("got %v\nwant %v", fs, want)
		}
	})
	t.Run("expired certificate", func(t *testing.T) {
		d, s, _ := setup(t)
		s.CertFile = certFile(t, now.AddDate(0, 0, -3), "mx.hub.example")
		fs := d.Check(ctx, s)
		want := Finding{Check: "tls", Severity: Error,
			Problem: "the certificate expired on 2026-11-29: senders that check it refuse to deliver",
			Fix:     "renew it (certbot renew) and check the renewal timer runs; the hub reads the new files at the next connection"}
		if len(fs) != 1 || fs[0] != want {
			t.Fatalf("got %v\nwant %v", fs, want)
		}
	})
	t.Run("certificate for another name, ending soon", func(t *testing.T) {
		d, s, _ := setup(t)
		s.CertFile = certFile(t, now.AddDate(0, 0, 5), "www.hub.example")
		fs := d.Check(ctx, s)
		if len(fs) != 2 || fs[0].Severity != Error || !strings.Contains(fs[0].Problem, "does not cover mx.hub.example") ||
			fs[1].Severity != Warning || !strings.Contains(fs[1].Problem, "expires on 2026-12-07, in 5 days") {
			t.Fatalf("got %v", fs)
		}
	})
	t.Run("no MX, no DMARC, http base URL", func(t *testing.T) {
		d, s, dns := setup(t)
		dns.MX = nil
		dns.Set("_dmarc.hub.example")
		s.BaseURL = "http://listes.hub.example"
		var checks []string
		for _, f := range d.Check(ctx, s) {
			checks = append(checks, f.Check+":"+f.Severity)
			if f.Fix == "" {
				t.Errorf("no fix: %v", f)
			}
		}
		if strings.Join(checks, " ") != "mx:error dmarc:error web:error" {
			t.Fatalf("got %v", checks)
		}
	})
	t.Run("relay is the hub", func(t *testing.T) {
		d, s, _ := setup(t)
		s.Relay = "127.0.0.1:25"
		fs := d.Check(ctx, s)
		if len(fs) != 1 || fs[0].Check != "relay" || !strings.Contains(fs[0].Problem, "is this hub's own SMTP listener :25") {
			t.Fatalf("got %v", fs)
		}
	})
	t.Run("relay does not answer", func(t *testing.T) {
		d, s, _ := setup(t)
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		s.Relay = l.Addr().String()
		l.Close()
		fs := d.Check(ctx, s)
		if len(fs) != 1 || fs[0].Check != "relay" || !strings.Contains(fs[0].Problem, "does not answer") {
			t.Fatalf("got %v", fs)
		}
	})
	t.Run("waiting key not published", func(t *testing.T) {
		d, s, _ := setup(t)
		more, err := dkim.Generate(keysDir, "hub.example", now) // a second pair waits
		if err != nil {
			t.Fatal(err)
		}
		s.Plan.Keys = append(s.Plan.Keys, more...)
		fs := d.Check(ctx, s)
		if len(fs) != 2 || fs[0].Severity != Warning || !strings.Contains(fs[0].Problem, "a waiting key: publish it before `relais dkim activate`") {
			t.Fatalf("got %v", fs)
		}
	})
}
