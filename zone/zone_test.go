package zone

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/dkim"
)

var update = flag.Bool("update", false, "rewrite testdata/hub.example.zone")

// keys reads the committed test keys: an active pair, and a waiting pair
// made for a rotation. Git does not keep
// the 0600 mode the dkim package insists on, so they are copied first.
func keys(t *testing.T) []dkim.Key {
	t.Helper()
	dir := t.TempDir()
	ddir := filepath.Join(dir, "hub.example")
	if err := os.MkdirAll(ddir, 0o700); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/keys/*.pem")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(ddir, filepath.Base(f))
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		// Same creation time for all: the order is then by algorithm.
		when := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
		if err := os.Chtimes(name, when, when); err != nil {
			t.Fatal(err)
		}
	}
	if err := dkim.Activate(dir, "hub.example", "rsa-20261121", "ed-20261121"); err != nil {
		t.Fatal(err)
	}
	ks, err := dkim.Keys(dir)
	if err != nil || len(ks) != 4 {
		t.Fatalf("%d keys, %v", len(ks), err)
	}
	return ks
}

func TestGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, Plan{Domain: "hub.example", MX: "mx.hub.example", Keys: keys(t)}); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "hub.example.zone")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("relais dns output differs from %s (go test ./zone -update to accept):\n%s", golden, b.String())
	}
	checkZone(t, b.String())
}

// checkZone has BIND's own parser load the records (named-checkzone from
// Debian's bind9-utils), in a zone with the SOA and NS it requires.
func checkZone(t *testing.T, records string) {
	t.Helper()
	bin, err := exec.LookPath("named-checkzone")
	if err != nil {
		bin = "/usr/bin/named-checkzone"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("named-checkzone not installed (apt-get install bind9-utils)")
		}
	}
	zone := "$ORIGIN hub.example.\n$TTL 3600\n" +
		"@\tIN\tSOA\tns1.hub.example. hostmaster.hub.example. 2026112101 7200 3600 1209600 3600\n" +
		"@\tIN\tNS\tns1.hub.example.\nns1\tIN\tA\t192.0.2.53\nmx\tIN\tA\t192.0.2.25\n" + records
	file := filepath.Join(t.TempDir(), "hub.example.zone")
	if err := os.WriteFile(file, []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	// -D dumps the zone as BIND read it: the TXT values come back whole.
	out, err := exec.Command(bin, "-D", "-o", "-", "hub.example", file).CombinedOutput()
	if err != nil {
		t.Fatalf("named-checkzone: %v\n%s", err, out)
	}
	// Compared with runs of blanks made one space.
	var norm []string
	for _, l := range strings.Split(string(out), "\n") {
		norm = append(norm, strings.Join(strings.Fields(l), " "))
	}
	dump := strings.Join(norm, "\n")
	for _, want := range []string{
		"hub.example. 3600 IN MX 10 mx.hub.example.",
		`"v=spf1 mx -all"`,
		"rsa-20261121b._domainkey.hub.example. 3600 IN TXT",
		"ed-20261121._domainkey.hub.example. 3600 IN TXT \"v=DKIM1; k=ed25519; p=",
		`"v=DMARC1; p=quarantine; rua=mailto:postmaster@hub.example; adkim=r; aspf=r"`,
		`_smtp._tls.hub.example.`,
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("named-checkzone's dump lacks %q:\n%s", want, dump)
		}
	}
	// The RSA key's record is split in strings of 255 octets at most; joined
	// again it is the record the signer's key gives.
	for _, k := range keys(t) {
		joined := strings.ReplaceAll(dumpTXT(t, dump, k.Name()+". "), `" "`, "")
		if joined != `"`+k.Record()+`"` {
			t.Errorf("%s: BIND read %s, want %q", k.Name(), joined, k.Record())
		}
	}
}

func dumpTXT(t *testing.T, dump, name string) string {
	for _, line := range strings.Split(dump, "\n") {
		if strings.HasPrefix(line, name) {
			_, v, ok := strings.Cut(line, "TXT ")
			if ok {
				return v
			}
		}
	}
	t.Fatalf("%s not in the dump:\n%s", name, dump)
	return ""
}
