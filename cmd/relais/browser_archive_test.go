package main

import (
	"context"
	"fmt"
	"mime"
	"net/smtp"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"codeberg.org/relais/relais/lists"
)

// The list archives in a real browser (issue 19): posts mailed over SMTP
// to the demo's 4405.discussion read threaded by a member signed in, found
// by a search with and without accents, answered from the web (the answer
// reaches the members and joins the thread); every page screenshot and
// checked by axe-core.
func TestBrowserArchives(t *testing.T) {
	exe := chromium(t)
	h, box := demoHub(t)
	base := "http://" + h.WebAddr().String()
	const camille, karim = "camille@exemple.fr", "karim@exemple.fr"
	send := func(from, subject, body, extra string) string {
		t.Helper()
		id := fmt.Sprintf("<%d@exemple.fr>", time.Now().UnixNano())
		msg := "From: " + from + "\r\nTo: 4405.discussion@hub.example\r\nSubject: " + mime.QEncoding.Encode("utf-8", subject) +
			"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: " + id + "\r\n" + extra +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body + "\r\n"
		if err := smtp.SendMail(h.Addrs()[0].String(), nil, from, []string{"4405.discussion@hub.example"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := send(camille, "Réunion de préparation", "La réunion aura lieu jeudi à la salle des fêtes.", "")
	send(karim, "Re: Réunion de préparation", "Je viendrai, avec les tracts.", "In-Reply-To: "+first+"\r\nReferences: "+first+"\r\n")
	send(karim, "Affiches", "Qui colle les affiches samedi ?", "")
	waitMails(t, box, "lea@exemple.fr", 3)

	c := newChrome(t, exe)
	signinRE := regexp.MustCompile(`http://[^\s]+/signin/[a-z2-7]{26}`)
	c.run(t, chromedp.Navigate(base+"/archives/4405.discussion"), chromedp.WaitVisible(chromedp.CSS("h1")))
	c.check(t, "archive-closed")
	had := len(mailsTo(box, camille))
	c.run(t, chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.ID("#email")),
		chromedp.SendKeys(chromedp.ID("#email"), camille), chromedp.Submit(chromedp.ID("#email")),
		chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
	link := linkTo(t, box, camille, had+1, signinRE)
	c.run(t, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main form button")),
		chromedp.Click(chromedp.CSS("main form button")), chromedp.WaitVisible(chromedp.ID("#lists")))

	c.run(t, chromedp.Navigate(base+"/archives/4405.discussion"), chromedp.WaitVisible(chromedp.CSS("ul.months a")))
	c.check(t, "archive")
	c.run(t, chromedp.Click(chromedp.CSS("ul.months a")), chromedp.WaitVisible(chromedp.CSS("ul.threads a")))
	c.check(t, "archive-month")
	if s := c.text(t); !strings.Contains(s, "Réunion de préparation") || !strings.Contains(s, "Affiches") || !strings.Contains(s, "2 messages") {
		t.Fatalf("the month:\n%s", s)
	}
	c.run(t, chromedp.Click(chromedp.CSS(`ul.threads li:nth-child(2) a`)), chromedp.WaitVisible(chromedp.CSS("article.post")))
	c.check(t, "archive-thread")
	s := c.text(t)
	if !strings.Contains(s, "La réunion aura lieu jeudi") || !strings.Contains(s, "Je viendrai") {
		t.Fatalf("the thread:\n%s", s)
	}
	if n := c.get(t, chromedp.Evaluate[string](`String(document.querySelectorAll('article.post.d1').length)`)); n != "1" {
		t.Fatalf("%s answers shown under the post", n)
	}
	for _, q := range []string{"réunion", "reunion"} {
		c.run(t, chromedp.Navigate(base+"/archives/4405.discussion/search?q="+q), chromedp.WaitVisible(chromedp.ID("#results")))
		if q == "reunion" {
			c.check(t, "archive-search")
		}
		if n := c.get(t, chromedp.Evaluate[string](`String(document.querySelectorAll('ul.posts li').length)`)); n != "2" {
			t.Fatalf("search %q: %s results\n%s", q, n, c.text(t))
		}
	}
	// Answer from the web.
	before := len(mailsTo(box, karim))
	c.run(t, chromedp.Navigate(base+"/archives/4405.discussion/search?q=tracts"), chromedp.WaitVisible(chromedp.CSS("ul.posts a")),
		chromedp.Click(chromedp.CSS("ul.posts a")), chromedp.WaitVisible(chromedp.CSS(`a[href$="/reply"]`)),
		chromedp.Click(chromedp.CSS(`a[href$="/reply"]`)), chromedp.WaitVisible(chromedp.ID("#text")))
	c.check(t, "archive-reply")
	c.run(t, chromedp.SendKeys(chromedp.ID("#text"), "Merci Karim, à jeudi."), chromedp.Submit(chromedp.ID("#text")),
		chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
	c.check(t, "archive-replied")
	if s := c.text(t); !strings.Contains(s, "Merci Karim, à jeudi.") {
		t.Fatalf("the thread after the answer:\n%s", s)
	}
	ms := waitMails(t, box, karim, before+1)
	if m := ms[len(ms)-1]; !strings.Contains(m.Body(), "Merci Karim") || !strings.Contains(string(m.Data), "In-Reply-To: <") {
		t.Fatalf("the answer as karim gets it:\n%s", m.Data)
	}
	if l, err := lists.Find(context.Background(), h.DB, "4405.discussion"); err != nil || l.ID == 0 {
		t.Fatal(err)
	}
}
