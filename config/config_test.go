package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The commented example in deploy/ must stay loadable and valid: it is the
// operator's documentation of every key.
func TestExampleFileLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "deploy", "relais.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Domains, []string{"hub.example.org"}) || c.SMTP.Listen[0] != ":25" || c.Queue.GiveUpAfter.D() != 120*time.Hour {
		t.Fatalf("unexpected values: %+v", c)
	}
	// Every key of Config appears in the example, so none is undocumented.
	body, _ := os.ReadFile(filepath.Join("..", "deploy", "relais.toml"))
	var keys func(t reflect.Type)
	keys = func(typ reflect.Type) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := f.Tag.Get("toml")
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)) {
				if !strings.Contains(string(body), "["+tag+"]") {
					t.Errorf("section [%s] is not in deploy/relais.toml", tag)
				}
				keys(f.Type)
				continue
			}
			if !strings.Contains(string(body), "\n"+tag+" =") && !strings.Contains(string(body), "# "+tag+" =") {
				t.Errorf("key %s is not documented in deploy/relais.toml", tag)
			}
		}
	}
	keys(reflect.TypeOf(Config{}))
}

func TestUnknownKeyRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte("domains = [\"a.example\"]\n[smtp]\nlisten_addr = \"x\"\n"), 0o600)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "smtp.listen_addr") {
		t.Fatalf("got %v, want unknown key smtp.listen_addr", err)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(p, []byte("domains = [\"a.example\"]\n[smtp]\nmax_recipients = 5\n"), 0o600)
	t.Setenv("RELAIS_DOMAINS", "B.example, c.example")
	t.Setenv("RELAIS_SMTP_MAX_RECIPIENTS", "7")
	t.Setenv("RELAIS_QUEUE_RETRY_MIN", "30s")
	t.Setenv("RELAIS_RELAY_TLS_SKIP_VERIFY", "true")
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Domains, []string{"b.example", "c.example"}) || c.SMTP.MaxRecipients != 7 ||
		c.Queue.RetryMin.D() != 30*time.Second || !c.Relay.TLSSkipVerify {
		t.Fatalf("env not applied: %+v", c)
	}
	t.Setenv("RELAIS_SMTP_MAX_RECIPIENTS", "many")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "RELAIS_SMTP_MAX_RECIPIENTS") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestDefaultsNeedOnlyADomain(t *testing.T) {
	c := Default()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "no domain") {
		t.Fatalf("want the missing domain named, got %v", err)
	}
	c.Domains = []string{"hub.example"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// dkim.signing_nice is 0 (off) to 19, a nice value's range.
func TestSigningNiceRange(t *testing.T) {
	for n, ok := range map[int]bool{-1: false, 0: true, 1: true, 10: true, 19: true, 20: false} {
		c := Default()
		c.Domains = []string{"hub.example"}
		c.DKIM.SigningNice = n
		err := c.Validate()
		if ok != (err == nil) || !ok && !strings.Contains(err.Error(), "dkim.signing_nice is") {
			t.Errorf("signing_nice %d: %v", n, err)
		}
	}
}

// A negative intake_first is a mistake, not a way to say "never".
func TestIntakeFirstNotNegative(t *testing.T) {
	c := Default()
	c.Domains = []string{"hub.example"}
	c.Queue.IntakeFirst = Duration(-5 * time.Second)
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "queue.intake_first must be 0") {
		t.Fatalf("intake_first -5s: %v", err)
	}
	c.Queue.IntakeFirst = 0
	if err := c.Validate(); err != nil {
		t.Fatalf("intake_first 0: %v", err)
	}
}
