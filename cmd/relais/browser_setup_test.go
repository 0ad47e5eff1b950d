package main

// The browser tests' shared set-up (issue 15, used again by issue 19's
// archives): Debian's Chromium, headless, driven with chromedp, on the
// demo's data served by a hub on 127.0.0.1 whose mail a recording relay
// captures. Every page is screenshot into the artifacts directory
// ($RELAIS_ARTIFACTS, else a new temporary one, kept and named in the log)
// and checked by axe-core (npm, installed by the test into a cache
// directory) for serious or critical accessibility violations.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/hub"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/outbox"
)

// chromium finds Debian's Chromium, or skips saying how to get it.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("SKIP: Chromium is not installed (apt-get install -y --no-install-recommends chromium; scripts/test installs it when it may)")
	return ""
}

// axeSource is axe-core's script, installed with npm into the user's cache
// directory the first time; "" when npm cannot install it.
func axeSource(t *testing.T) string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "relais-test", "axe")
	file := filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
	if b, err := os.ReadFile(file); err == nil {
		return string(b)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm is needed to install axe-core for the accessibility check (apt-get install npm)")
	}
	os.MkdirAll(dir, 0o755)
	out, err := exec.Command(npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "axe-core@4").CombinedOutput()
	if err != nil {
		t.Fatalf("npm install axe-core: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// artifacts is where screenshots go.
func artifacts(t *testing.T) string {
	dir := os.Getenv("RELAIS_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "relais-browser-"); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(dir, "browser")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// demoHub is the demo's data served by a hub on 127.0.0.1, its mail
// captured by box.
func demoHub(t *testing.T) (*hub.Hub, *outbox.Server) {
	dir := t.TempDir()
	if err := seedDemo(dir); err != nil {
		t.Fatal(err)
	}
	box, err := outbox.Start("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { box.Close() })
	c := config.Default()
	c.Domains = []string{demoDomain}
	c.Hostname = "relais.localhost"
	c.DataDir = dir
	c.Relay.Address = box.Addr()
	c.Relay.StartTLS = "off"
	c.SMTP.Listen = []string{"127.0.0.1:0"}
	c.Web.Listen = "127.0.0.1:0"
	c.Web.RequestsPerIPMinute = 0 // one browser asks much
	c.Metrics.Listen = "127.0.0.1:0"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	dns := &mailauth.StaticResolver{}
	for _, d := range demoSenders {
		dns.Set(d, "v=spf1 ip4:127.0.0.1 -all")
	}
	h, err := hub.Open(context.Background(), c, hub.Options{Logger: slog.New(slog.DiscardHandler), Resolver: dns})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Listen(); err != nil {
		t.Fatal(err)
	}
	h.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return h, box
}

// linkTo waits for the n-th mail to rcpt and returns its link matching re.
func linkTo(t *testing.T, box *outbox.Server, rcpt string, n int, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got []outbox.Mail
		for _, m := range box.Mails() {
			if m.To == rcpt {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			if l := re.FindString(got[n-1].Body()); l != "" {
				return l
			}
			t.Fatalf("mail %d to %s has no link:\n%s", n, rcpt, got[n-1].Body())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail %d to %s", n, rcpt)
		}
		time.Sleep(20 * time.Millisecond) // polling the relay's captures
	}
}

// chrome is a headless Chromium for one test, with its checks.
type chrome struct {
	ctx       context.Context // the browser's, for the life of the test
	downloads string
	axe       string
	shots     string
	n         int
}

// newChrome starts Chromium (exe) for t; it stops when t ends.
func newChrome(t *testing.T, exe string) *chrome {
	c := &chrome{axe: axeSource(t), shots: artifacts(t), downloads: t.TempDir()}
	profile := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(exe),
		chromedp.Flag("headless", "new"), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(profile), chromedp.WindowSize(412, 915))
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// The first call starts the browser and its tab, for the life of bctx
	// (a timeout on it would end the browser).
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("Chromium did not start: %v", err)
	}
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: c.downloads}); err != nil {
		t.Fatalf("Chromium did not start: %v", err)
	}
	c.ctx = bctx
	return c
}

// run runs actions on the page.
func (c *chrome) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	// The notice of the page before must not pass for the answer to
	// what comes (a click while the page still loads can be lost).
	actions = append([]chromedp.Action[chromedp.Void]{chromedp.Evaluate[chromedp.Void](
		`document.querySelectorAll('div.notice').forEach(e => e.remove())`)}, actions...)
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// get reads something of the page.
func (c *chrome) get(t *testing.T, a chromedp.Action[string]) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// violations runs axe-core on the page: its serious and critical
// violations.
func (c *chrome) violations(t *testing.T) []map[string]any {
	t.Helper()
	c.run(t, chromedp.Evaluate[chromedp.Void](c.axe))
	res := c.get(t, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(
		r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({id: v.id, impact: v.impact, help: v.help,
		nodes: v.nodes.map(n => n.target.join(' '))}))))`, chromedp.EvalAwaitPromise))
	var bad []map[string]any
	if err := json.Unmarshal([]byte(res), &bad); err != nil {
		t.Fatalf("axe-core: %v: %s", err, res)
	}
	return bad
}

// check screenshots the page and runs axe-core on it.
func (c *chrome) check(t *testing.T, name string) {
	t.Helper()
	c.n++
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.shots, fmt.Sprintf("%02d-%s.png", c.n, name)), png, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range c.violations(t) {
		t.Errorf("%s: accessibility (axe-core) %v %v: %v on %v", name, v["impact"], v["id"], v["help"], v["nodes"])
	}
}

// text is the text of the page's main element.
func (c *chrome) text(t *testing.T) string {
	t.Helper()
	return c.get(t, chromedp.Text(chromedp.CSS("main")))
}

// mailsTo returns what the relay captured for rcpt.
func mailsTo(box *outbox.Server, rcpt string) []outbox.Mail {
	var out []outbox.Mail
	for _, m := range box.Mails() {
		if m.To == rcpt {
			out = append(out, m)
		}
	}
	return out
}

// waitMails waits until rcpt has n mails, and returns them.
func waitMails(t *testing.T, box *outbox.Server, rcpt string, n int) []outbox.Mail {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if ms := mailsTo(box, rcpt); len(ms) >= n {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails to %s, not %d", len(mailsTo(box, rcpt)), rcpt, n)
		}
		time.Sleep(20 * time.Millisecond) // polling the relay's captures
	}
}
