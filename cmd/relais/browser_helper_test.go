package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// chrome is a headless Chromium for the browser tests: run does actions
// (after removing the previous page's notice), get reads a value, check
// screenshots the page into the artifacts and runs axe-core on it, text
// is the page's main text.
type chrome struct {
	ctx       context.Context
	downloads string
	run       func(t *testing.T, actions ...chromedp.Action[chromedp.Void])
	get       func(t *testing.T, a chromedp.Action[string]) string
	check     func(t *testing.T, name string)
	text      func(t *testing.T) string
}

func newChrome(t *testing.T, exe, axe, shots string) *chrome {
	ctx := context.Background()
	profile := t.TempDir()
	downloads := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(exe),
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
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("Chromium did not start: %v", err)
	}
	run := func(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		// The notice of the page before must not pass for the answer to
		// what comes (a click while the page still loads can be lost).
		actions = append([]chromedp.Action[chromedp.Void]{chromedp.Evaluate[chromedp.Void](
			`document.querySelectorAll('div.notice').forEach(e => e.remove())`)}, actions...)
		c, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatal(err)
		}
	}
	get := func(t *testing.T, a chromedp.Action[string]) string {
		t.Helper()
		c, cancel := context.WithTimeout(bctx, 60*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// violations runs axe-core on the page: its serious and critical
	// violations.
	violations := func(t *testing.T) []map[string]any {
		t.Helper()
		run(t, chromedp.Evaluate[chromedp.Void](axe))
		res := get(t, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(
			r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.map(n => n.target.join(' '))}))))`, chromedp.EvalAwaitPromise))
		var bad []map[string]any
		if err := json.Unmarshal([]byte(res), &bad); err != nil {
			t.Fatalf("axe-core: %v: %s", err, res)
		}
		return bad
	}
	// The check finds what it must: an image without a text alternative.
	run(t, chromedp.Navigate(`data:text/html,<!doctype html><html lang="fr"><title>t</title><img src="x.png"></html>`))
	if v := violations(t); len(v) == 0 || v[0]["id"] != "image-alt" {
		t.Fatalf("axe-core found %v on a page with an image without alt", v)
	}
	n := 0
	// check screenshots the page and runs axe-core on it.
	check := func(t *testing.T, name string) {
		t.Helper()
		n++
		c, cancel := context.WithTimeout(bctx, 30*time.Second)
		png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("%02d-%s.png", n, name)), png, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, v := range violations(t) {
			t.Errorf("%s: accessibility (axe-core) %v %v: %v on %v", name, v["impact"], v["id"], v["help"], v["nodes"])
		}
	}
	text := func(t *testing.T) string {
		t.Helper()
		return get(t, chromedp.Text(chromedp.CSS("main")))
	}
	return &chrome{ctx: bctx, downloads: downloads, run: run, get: get, check: check, text: text}
}
