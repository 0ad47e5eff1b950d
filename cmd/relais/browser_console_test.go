package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"codeberg.org/relais/relais/address"
	"codeberg.org/relais/relais/events"
	"codeberg.org/relais/relais/groups"
	"codeberg.org/relais/relais/lists"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/signin"
)

// The console in a real browser (issue 16), on the demo's data: Camille,
// owner of 4405.discussion and animator of 4405.nantes-sud, signs in by
// a mailed link, approves one held post and rejects another with a
// reason (the poster gets it, the members get the approved one), removes
// a member, invites three addresses (three confirmations, nobody
// subscribed until they confirm), creates an event, and sees an attendee
// who confirmed. Every page is screenshot and checked by axe-core.
func TestBrowserConsoleScenario(t *testing.T) {
	exe := chromium(t)
	h, box := demoHub(t)
	ctx := context.Background()
	base := "http://" + h.WebAddr().String()
	const camille, zoe, lea, karim = "camille@exemple.fr", "zoe@example.org", "lea@exemple.fr", "karim@exemple.fr"
	l, err := lists.Find(ctx, h.DB, "4405.discussion")
	if err != nil {
		t.Fatal(err)
	}
	smtpAddr := h.Addrs()[0].String()
	for _, subject := range []string{"Proposition de tract", "Publicité"} {
		msg := "From: Zoé <" + zoe + ">\r\nTo: 4405.discussion@hub.example\r\nSubject: " + subject + "\r\nMessage-ID: <" +
			fmt.Sprint(time.Now().UnixNano()) + "@example.org>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Bonjour <b>à tous</b><script>alert(1)</script></p>\r\n"
		if err := sendOne(smtpAddr, zoe, "4405.discussion@hub.example", msg); err != nil {
			t.Fatal(err)
		}
	}
	mails := func(rcpt string) []outbox.Mail {
		var out []outbox.Mail
		for _, m := range box.Mails() {
			if m.To == rcpt {
				out = append(out, m)
			}
		}
		return out
	}
	waitMail := func(t *testing.T, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("no %s", what)
			}
			time.Sleep(20 * time.Millisecond) // polling the relay's captures
		}
	}
	waitMail(t, "held notices", func() bool { return len(mails(camille)) >= 2 })
	held, err := lists.HeldPosts(ctx, h.DB, l.ID, "held")
	if err != nil || len(held) != 2 {
		t.Fatalf("held: %v %v", held, err)
	}
	c := newChrome(t, exe)
	run, check, text := c.run, c.check, c.text
	id := func(n int64) string { return fmt.Sprint(n) }

	t.Run("sign in", func(t *testing.T) {
		run(t, chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.ID("#email")))
		run(t, chromedp.SendKeys(chromedp.ID("#email"), camille), chromedp.Submit(chromedp.ID("#email")),
			chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
		link := linkTo(t, box, camille, 3, regexp.MustCompile(`http://[^\s]+/signin/[a-z2-7]{26}`))
		run(t, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main form button")))
		run(t, chromedp.Click(chromedp.CSS("main form button")), chromedp.WaitVisible(chromedp.ID("#lists")))
		run(t, chromedp.Navigate(base+"/console"), chromedp.WaitVisible(chromedp.ID("#lists")))
		check(t, "console")
		if s := text(t); !strings.Contains(s, "Discussion Nantes Sud") || !strings.Contains(s, "Nantes Sud") {
			t.Fatalf("console:\n%s", s)
		}
	})
	t.Run("approve one held post", func(t *testing.T) {
		run(t, chromedp.Click(chromedp.CSS(`a[href="/console/lists/`+id(l.ID)+`"]`)), chromedp.WaitVisible(chromedp.ID("#held")))
		check(t, "console-list")
		run(t, chromedp.Navigate(base+"/console/held/"+id(held[0].ID)), chromedp.WaitVisible(chromedp.ID("#approve")))
		check(t, "console-held")
		if s := text(t); !strings.Contains(s, "Bonjour à tous") || strings.Contains(s, "alert") {
			t.Fatalf("held post as shown:\n%s", s)
		}
		run(t, chromedp.Click(chromedp.ID("#approve")), chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
		check(t, "console-approved")
		waitMail(t, "the approved post to the members", func() bool {
			for _, m := range mails(karim) {
				if strings.Contains(m.Header().Get("Subject"), "Proposition de tract") {
					return true
				}
			}
			return false
		})
	})
	t.Run("reject another with a reason", func(t *testing.T) {
		run(t, chromedp.Navigate(base+"/console/held/"+id(held[1].ID)), chromedp.WaitVisible(chromedp.ID("#reason")))
		run(t, chromedp.SendKeys(chromedp.ID("#reason"), "Pas de publicité sur cette liste."), chromedp.Click(chromedp.ID("#reject")),
			chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
		check(t, "console-rejected")
		defer func() {
			if t.Failed() {
				for _, m := range mails(zoe) {
					t.Logf("to zoe: %s\n%s", m.Header().Get("Subject"), m.Body())
				}
			}
		}()
		waitMail(t, "the rejection to the poster", func() bool {
			for _, m := range mails(zoe) {
				if strings.Contains(m.Body(), "Explication du mod") && strings.Contains(m.Body(), "sur cette liste.") { // quoted-printable
					return true
				}
			}
			return false
		})
		for _, m := range mails(karim) {
			if strings.Contains(m.Header().Get("Subject"), "Publicité") {
				t.Fatal("the rejected post reached a member")
			}
		}
	})
	t.Run("remove a member", func(t *testing.T) {
		run(t, chromedp.Navigate(base+"/console/lists/"+id(l.ID)+"/members"), chromedp.WaitVisible(chromedp.ID("#invite-emails")))
		check(t, "console-members")
		run(t, chromedp.Click(chromedp.CSS(`button[aria-label="Désinscrire `+lea+`"]`)), chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
		check(t, "console-removed")
		if m, err := lists.MemberOf(ctx, h.DB, l.ID, lea); err != nil || m.State != "unsubscribed" {
			t.Fatalf("lea: %+v %v", m, err)
		}
	})
	t.Run("invite three", func(t *testing.T) {
		invited := []string{"ines@example.net", "jules@example.net", "kim@example.net"}
		run(t, chromedp.SetValue(chromedp.ID("#invite-emails"), strings.Join(invited, "\n")), chromedp.Click(chromedp.ID("#invite-send")),
			chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
		check(t, "console-invited")
		for _, a := range invited {
			link := linkTo(t, box, a, 1, regexp.MustCompile(`4405\.discussion\+confirm-[a-z2-7]{20}@hub\.example`))
			if link == "" {
				t.Fatalf("no confirmation to %s", a)
			}
			if _, err := lists.MemberOf(ctx, h.DB, l.ID, a); !errors.Is(err, lists.ErrNotMember) {
				t.Fatalf("%s is on the list before confirming: %v", a, err)
			}
		}
	})
	t.Run("create an event and see who comes", func(t *testing.T) {
		code, _ := address.ParseCode("4405")
		gid, err := groups.Lookup(ctx, h.DB, code, "nantes-sud")
		if err != nil {
			t.Fatal(err)
		}
		day := time.Now().AddDate(0, 0, 10).Format("2006-01-02")
		run(t, chromedp.Navigate(base+"/console/groups/"+id(gid)), chromedp.WaitVisible(chromedp.ID("#events")))
		check(t, "console-group")
		run(t, chromedp.Navigate(base+"/console/groups/"+id(gid)+"/events/new"), chromedp.WaitVisible(chromedp.ID("#title")))
		check(t, "console-event-new")
		run(t, chromedp.SendKeys(chromedp.ID("#title"), "Assemblée de quartier"), chromedp.SetValue(chromedp.ID("#date"), day),
			chromedp.SendKeys(chromedp.ID("#time"), "18:30"), chromedp.SendKeys(chromedp.ID("#end"), "20:00"),
			chromedp.SendKeys(chromedp.ID("#place"), "Maison de quartier, 44200 Nantes"), chromedp.Click(chromedp.ID("#save")),
			chromedp.WaitVisible(chromedp.CSS(`div.notice`)))
		check(t, "console-event")
		evs, err := events.Of(ctx, h.DB, "event.of-group", gid, time.Now().Unix())
		var ev events.Event
		for _, e := range evs {
			if e.Title == "Assemblée de quartier" {
				ev = e
			}
		}
		if err != nil || ev.ID == 0 || ev.Start.In(ev.Location()).Format("15:04") != "18:30" {
			t.Fatalf("event: %+v %v", ev, err)
		}
		// Someone says they will come, and confirms by the mailed link.
		const visitor = "voisin@example.net"
		if err := h.SignIn.Request(ctx, signin.PurposeAttend, visitor, "fr", "127.0.0.1", ev.ID,
			map[string]any{"Title": ev.Title, "When": day, "Place": ev.Place, "Groups": "4405.nantes-sud"}); err != nil {
			t.Fatal(err)
		}
		link := linkTo(t, box, visitor, 1, regexp.MustCompile(`http://[^\s]+/agenda/confirm/[a-z2-7]{26}`))
		run(t, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("main form button")))
		run(t, chromedp.Click(chromedp.CSS("main form button")), chromedp.WaitVisible(chromedp.CSS(`p[role=status]`)))
		run(t, chromedp.Navigate(base+"/console/events/"+id(ev.ID)), chromedp.WaitVisible(chromedp.ID("#attendees")))
		check(t, "console-attendees")
		if s := text(t); !strings.Contains(s, "Participant(e)s : 1") || !strings.Contains(s, visitor) {
			t.Fatalf("attendees:\n%s", s)
		}
	})
}
