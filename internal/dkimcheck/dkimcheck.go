// Package dkimcheck verifies DKIM signatures in tests with an independent
// verifier, Debian's python3-dkim (dkimpy), the public keys given by the
// test instead of the DNS.
package dkimcheck

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

//go:embed verify.py
var script string

// Result is dkimpy's verdict on one DKIM-Signature field, top first.
type Result struct {
	OK       bool   `json:"ok"`
	Domain   string `json:"d"`
	Selector string `json:"s"`
	Algo     string `json:"a"`
	Error    string `json:"error"`
}

// python is Debian's interpreter, where python3-dkim is installed (a
// python3 earlier in PATH may be another one).
const python = "/usr/bin/python3"

// Available says whether the verifier can run; Verify skips the test when
// it cannot.
func Available() bool {
	return exec.Command(python, "-c", "import dkim, nacl").Run() == nil
}

// Verify runs dkimpy on msg with the TXT records given (name → record) and
// returns one result per signature. The test is skipped, saying why, if
// python3-dkim is not installed.
func Verify(t testing.TB, msg []byte, records map[string]string) []Result {
	t.Helper()
	if !Available() {
		t.Skip("python3-dkim / python3-nacl not installed (apt-get install python3-dkim python3-nacl)")
	}
	dir := t.TempDir()
	recs, _ := json.Marshal(records)
	if err := os.WriteFile(filepath.Join(dir, "records.json"), recs, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "verify.py"), []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join(dir, "verify.py"), filepath.Join(dir, "records.json"))
	cmd.Stdin = bytes.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, stderr.Bytes())
	}
	var res []Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("dkimpy output %q: %v", out, err)
	}
	return res
}

// Require checks that msg carries the signatures wanted from domain (by
// algorithm, e.g. "rsa-sha256", "ed25519-sha256", top first), all valid
// for dkimpy. Signatures of other domains (the writer's own, on a
// forwarded message) are not counted.
func Require(t testing.TB, msg []byte, records map[string]string, domain string, algos ...string) {
	t.Helper()
	var ours []Result
	for _, r := range Verify(t, msg, records) {
		if r.Domain == domain {
			ours = append(ours, r)
		}
	}
	if len(ours) != len(algos) {
		t.Fatalf("%d DKIM signatures from %s, want %d (%v): %+v", len(ours), domain, len(algos), algos, ours)
	}
	for i, r := range ours {
		if !r.OK || r.Algo != algos[i] {
			t.Errorf("signature %d: %+v, want a valid %s from %s", i, r, algos[i], domain)
		}
	}
}
