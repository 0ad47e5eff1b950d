package main

// The members' pages in a real browser (issue 15): Debian's Chromium,
// headless, driven with chromedp, on the demo's data served by a hub on
// 127.0.0.1, whose mail a recording relay captures. Every page is
// screenshot into the artifacts directory ($RELAIS_ARTIFACTS, else a new
// temporary one, kept and named in the log) and checked by axe-core (npm,
// installed by the test into a cache directory) for serious or critical
// accessibility violations.

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"codeberg.org/relais/relais/audit"
	"codeberg.org/relais/relais/digest"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/privacy"
)

func TestBrowserMemberScenario(t *testing.T) {
	exe := chromium(t)
	h, box := demoHub(t)
	ctx := context.Background()
	base := "http://" + h.WebAddr().String()
	const marie, visitor = "marie@example.org", "voisine@example.net"
	discussion, err := lists.Find(ctx, h.DB, "4405.discussion")
	if err != nil {
		t.Fatal(err)
	}
	annonces, err := lists.Find(ctx, h.DB, "4405.annonces")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []lists.List{discussion, annonces} {
		if _, err := lists.Subscribe(ctx, h.DB, l.ID, "browser test", []string{marie}, audit.Actor{}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	member := func(l lists.List) lists.Member {
		t.Helper()
		ms, err := lists.MemberList(ctx, h.DB, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Email == marie {
				return m
			}
		}
		t.Fatalf("%s not on %s", marie, l.Local())
		return lists.Member{}
	}

	c := newChrome(t, exe)
	run, check, text, violations := c.run, c.check, c.text, c.violations
	bctx, downloads := c.ctx, c.downloads
	// The check finds what it must: an image without a text alternative.
	run(t, chromedp.Navigate(`data:text/html,<!doctype html><html lang="fr"><title>t</title><img src="x.png"></html>`))
	if v := violations(t); len(v) == 0 || v[0]["id"] != "image-alt" {
		t.Fatalf("axe-core found %v on a page with an image without alt", v)
	}
	signinRE := regexp.MustCompile(`http://[^\s]+/signin/[a-z2-7]{26}`)
	signIn := func(t *testing.T, nth int) {
		run(t, chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.ID("#email")))
		check(t, "signin")
		run(t, chromedp.SendKeys(chromedp.ID("#email"), marie), chromedp.Submit(chromedp.ID("#email")),
			chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
		check(t, "signin-sent")
		link := linkTo(t, box, marie, nth, signinRE)
		if strings.Contains(link, "marie") {
			t.Fatalf("the link names the address: %s", link)
		}
		run(t, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main form button")))
		check(t, "signin-link")
		run(t, chromedp.Click(chromedp.CSS("main form button")), chromedp.WaitVisible(chromedp.ID("#lists")))
	}

	t.Run("sign in by the mailed link", func(t *testing.T) {
		signIn(t, 1)
		check(t, "member")
		if s := text(t); !strings.Contains(s, marie) || !strings.Contains(s, "Discussion Nantes Sud") {
			t.Fatalf("member page:\n%s", s)
		}
		var n int
		h.DB.QueryRow(ctx, "test.sessions").Scan(&n)
		if n != 1 {
			t.Fatalf("%d sessions", n)
		}
	})
	id := func(l lists.List) string { return fmt.Sprint(l.ID) }
	t.Run("weekly digest", func(t *testing.T) {
		run(t, chromedp.SetValue(chromedp.ID("mode-"+id(discussion)), "weekly"),
			chromedp.Submit(chromedp.ID("mode-"+id(discussion))), chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
		check(t, "weekly")
		if m := member(discussion); m.Mode != "weekly" || m.State != "active" {
			t.Fatalf("after weekly: %+v", m)
		}
	})
	until := time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	t.Run("pause until a date", func(t *testing.T) {
		run(t, chromedp.SetValue(chromedp.ID("until-"+id(discussion)), until),
			chromedp.Submit(chromedp.ID("until-"+id(discussion))), chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
		check(t, "paused")
		m := member(discussion)
		paris, _ := time.LoadLocation("Europe/Paris")
		if !m.Paused || m.ResumeAt.In(paris).Format("2006-01-02") != until { // a pause ends at the start of its day, Paris time
			t.Fatalf("after pause until %s: %+v", until, m)
		}
	})
	t.Run("leave a list", func(t *testing.T) {
		run(t, chromedp.Click(chromedp.CSS(`form[action="/me/lists/`+id(annonces)+`"] button.danger`)),
			chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
		check(t, "left")
		if m := member(annonces); m.State != "unsubscribed" {
			t.Fatalf("after leaving: %+v", m)
		}
	})
	t.Run("weekly agenda and its preview", func(t *testing.T) {
		run(t, chromedp.SetValue(chromedp.ID("#place"), "44300"), chromedp.SetValue(chromedp.ID("#radius"), "30"),
			chromedp.Submit(chromedp.ID("#place")), chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
		check(t, "agenda-set")
		m, err := digest.Get(ctx, h.DB, marie)
		if err != nil || m.PostCode != "44300" || m.Radius != 30 || !m.Active {
			t.Fatalf("agenda: %+v %v", m, err)
		}
		run(t, chromedp.Navigate(base+"/me/preview"), chromedp.WaitVisible(chromedp.CSS("h1")))
		check(t, "preview")
		s := text(t)
		for _, want := range []string{"Réunion publique sur le logement", "Porte-à-porte au marché"} {
			if !strings.Contains(s, want) {
				t.Errorf("the preview lacks %q:\n%s", want, s)
			}
		}
	})
	t.Run("attend an event as a non-member", func(t *testing.T) {
		run(t, chromedp.Navigate(base+"/me"), chromedp.Click(chromedp.CSS(`header form[action="/signout"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`a[href="/signin"]`)))
		run(t, chromedp.Navigate(base+"/agenda?place=44000&radius=10"), chromedp.WaitVisible(chromedp.CSS("ul.events a")))
		check(t, "agenda")
		run(t, chromedp.Click(chromedp.CSS(`ul.events a`)), chromedp.WaitVisible(chromedp.ID("#email")))
		check(t, "event")
		c, cancel := context.WithTimeout(bctx, 30*time.Second)
		osm, err := chromedp.Run(c, chromedp.AttributeValue(chromedp.CSS(`a[href^="https://www.openstreetmap.org/"]`), "href"))
		cancel()
		if err != nil || !osm.Exists {
			t.Fatalf("no OpenStreetMap link: %v", err)
		}
		run(t, chromedp.SendKeys(chromedp.ID("#email"), visitor), chromedp.Submit(chromedp.ID("#email")),
			chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
		check(t, "event-asked")
		link := linkTo(t, box, visitor, 1, regexp.MustCompile(`http://[^\s]+/agenda/confirm/[a-z2-7]{26}`))
		run(t, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main form button")))
		check(t, "event-confirm")
		run(t, chromedp.Click(chromedp.CSS("main form button")), chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
		check(t, "event-confirmed")
		x, err := privacy.ExportOf(ctx, h.DB, demoDomain, visitor, time.Now(), nil)
		if err != nil || len(x.Attendance) != 1 || !strings.HasPrefix(x.Attendance[0].Title, "Réunion publique") && !strings.HasPrefix(x.Attendance[0].Title, "Porte") {
			t.Fatalf("attendance of the visitor: %+v %v", x.Attendance, err)
		}
	})
	t.Run("the other pages", func(t *testing.T) {
		m, err := digest.Get(ctx, h.DB, marie)
		if err != nil {
			t.Fatal(err)
		}
		karim := lists.Member{}
		ms, _ := lists.MemberList(ctx, h.DB, discussion.ID)
		for _, x := range ms {
			if x.Email == "karim@exemple.fr" {
				karim = x
			}
		}
		for name, path := range map[string]string{
			"home": "/", "group": "/agenda/group/4405.nantes-sud", "zone": "/agenda/zone/44.html",
			"embed": "/agenda/group/4405.nantes-sud/embed", "unsubscribe": "/u/" + h.Lists.UnsubscribeToken(discussion.ID, karim.ID, karim.Email),
			"agenda-stop": "/agenda/stop/" + h.Digest.Token(m), "unknown-link": "/signin/aaaaaaaaaaaaaaaaaaaaaaaaaa",
		} {
			run(t, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("h1, p")))
			check(t, name)
		}
		if s := text(t); s == "" {
			t.Fatal("empty page")
		}
	})
	t.Run("export and erase", func(t *testing.T) {
		signIn(t, 3) // the third mail to Marie: her first link, the goodbye of 4405.annonces, this link
		run(t, chromedp.Click(chromedp.CSS(`form[action="/me/export"] button`)))
		var zipFile string
		deadline := time.Now().Add(15 * time.Second)
		for zipFile == "" && time.Now().Before(deadline) {
			fs, _ := filepath.Glob(filepath.Join(downloads, "*.zip"))
			if len(fs) > 0 {
				zipFile = fs[0]
			}
			time.Sleep(50 * time.Millisecond) // polling the download directory
		}
		b, err := os.ReadFile(zipFile)
		if err != nil {
			t.Fatalf("no download: %v", err)
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		var doc privacy.Export
		for _, f := range zr.File {
			if f.Name == "relais-export.json" {
				r, _ := f.Open()
				json.NewDecoder(r).Decode(&doc)
				r.Close()
			}
		}
		if doc.Address != marie || len(doc.Subscriptions) != 2 || doc.Digest == nil {
			t.Fatalf("export: %+v", doc)
		}
		run(t, chromedp.Navigate(base+"/me/erase"), chromedp.WaitVisible(chromedp.ID("#really")))
		check(t, "erase-confirm")
		run(t, chromedp.Click(chromedp.ID("#really")), chromedp.Click(chromedp.CSS(`button.danger`)),
			chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
		check(t, "erased")
		if _, err := privacy.ExportOf(ctx, h.DB, demoDomain, marie, time.Now(), nil); err != privacy.ErrUnknown {
			t.Fatalf("after erasure the hub still holds something: %v", err)
		}
	})
}
