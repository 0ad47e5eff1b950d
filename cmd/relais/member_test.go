package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/relais/relais/internal/mention"
)

// An access request and an erasure request, each one command, as
// deploy/PRIVACY.md tells the data-protection officer.
func TestMemberCommands(t *testing.T) {
	data := t.TempDir()
	t.Setenv("RELAIS_DOMAINS", "hub.example")
	relais(t, "list", "create", "4405.discussion", "--policy", "members", "--owner", "anim@exemple.fr", "--data", data)
	relais(t, "list", "subscribe", "4405.discussion", "--consent", "Sympa, 2024", "marie@example.org", "bob@example.net", "--data", data)

	out := relais(t, "member", "show", "marie@example.org", "--data", data)
	if !strings.Contains(out, "4405.discussion@hub.example: active, each") || !strings.Contains(out, "person:") {
		t.Fatalf("show:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "marie.json")
	relais(t, "member", "export", "marie@example.org", "--out", file, "--data", data)
	b, _ := os.ReadFile(file)
	var x struct {
		Address       string `json:"address"`
		Subscriptions []struct {
			List       string `json:"list"`
			ConsentHow string `json:"consent_how"`
		} `json:"subscriptions"`
	}
	if err := json.Unmarshal(b, &x); err != nil || x.Address != "marie@example.org" || len(x.Subscriptions) != 1 ||
		x.Subscriptions[0].ConsentHow != "operator: Sympa, 2024" || strings.Contains(string(b), "bob@") {
		t.Fatalf("export (%v):\n%s", err, b)
	}
	if out, err := exec.Command(relaisBin, "member", "erase", "marie@example.org", "--data", data).CombinedOutput(); err == nil {
		t.Fatalf("erased without --really:\n%s", out)
	}
	out = relais(t, "member", "erase", "marie@example.org", "--really", "--data", data)
	if !strings.Contains(out, "erased: marie@example.org, now effacé-1") || !strings.Contains(out, "deleted 1 subscriptions") {
		t.Fatalf("erase:\n%s", out)
	}
	for _, f := range []string{"relais.db", "relais.db-wal", "relais.db-shm"} {
		if b, _ := os.ReadFile(filepath.Join(data, f)); mention.In(b, "marie@example.org") {
			t.Fatalf("%s still holds the address", f)
		}
	}
	if out := relais(t, "list", "subscribe", "4405.discussion", "--consent", "old file", "marie@example.org", "--data", data); !strings.Contains(out, "subscribed: 0") {
		t.Fatalf("re-import:\n%s", out)
	}
	if out := relais(t, "member", "show", "marie@example.org", "--data", data); !strings.Contains(out, "holds nothing") {
		t.Fatalf("after erasure:\n%s", out)
	}
	out = relais(t, "retention", "--dry-run", "--data", data)
	if !strings.Contains(out, "WOULD GO") || !strings.Contains(out, "consent") || !strings.Contains(out, "archive     4405.discussion") {
		t.Fatalf("retention --dry-run:\n%s", out)
	}
	relais(t, "retention", "set", "4405.discussion", "--archive", "forever", "--erased-posts", "keep", "--data", data)
	if out := relais(t, "retention", "lists", "--data", data); !strings.Contains(out, "4405.discussion  forever") || !strings.Contains(out, "keep") {
		t.Fatalf("retention lists:\n%s", out)
	}
	// Commands about a person never make an empty hub.
	empty := filepath.Join(t.TempDir(), "none")
	if out, err := exec.Command(relaisBin, "member", "show", "x@example.org", "--data", empty).CombinedOutput(); err == nil || !strings.Contains(string(out), "no relais data in") {
		t.Fatalf("show on nothing: %v\n%s", err, out)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Fatal("a data directory was made")
	}
}
