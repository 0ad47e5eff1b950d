package templates

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every message template exists in every language and renders.
func TestEveryTemplateInEveryLanguage(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, lang := range Languages {
		files, _ := fs.Glob(builtin, lang+"/*.tmpl")
		for _, f := range files {
			names[strings.TrimSuffix(filepath.Base(f), ".tmpl")]++
		}
	}
	if len(names) == 0 {
		t.Fatal("no templates")
	}
	data := map[string]any{"Subject": "Réunion", "To": "4405.nantes-sud@hub.example", "Date": "21/11/2026 10:00",
		"Why": "refused", "Code": "550 5.1.1", "Postmaster": "postmaster@hub.example", "ID": "abc", "Hub": "hub.example",
		// Lists.
		"List": "4405.discussion@hub.example", "Name": "Discussion", "Local": "4405.discussion", "Policy": "members",
		"Subscribe": "s@x", "Unsubscribe": "u@x", "Help": "h@x", "Request": "r@x", "Owner": "o@x",
		"Email": "m@x", "Confirm": "c@x", "Token": "tok", "Expires": "lundi", "Poster": "p@x", "Reason": "size",
		"Detail": "", "Problem": "date-nonexistent", "Value": "31/02/2027", "Approve": "a@x", "Reject": "r@x", "Held": 1, "State": "approved", "Score": 4.0, "Threshold": 5.0,
		"Results": []map[string]string{{"Line": "pause", "Outcome": "paused", "Date": ""}}, "ShowHelp": true,
		"Commands": "aide", "Confirmed": false, "Change": false,
		"Posts": []map[string]any{{"N": 1, "Subject": "s", "From": "f", "Date": "d"}}, "Count": 1, "Mode": "daily",
		// Support desk.
		"Number": int64(12), "Queue": "support@hub.example", "QueueName": "Support", "Requester": "r@x", "Assignee": "",
		"Kind": "request", "Author": "r@x", "Text": "Bonjour", "Files": []string{"a.pdf"}, "Withheld": true,
		"Reply": "support+k@x", "Note": "support+n@x", "Lines": []string{"#fermé"}, "MaxMB": int64(10),
		// Agenda.
		"Group": "Nantes Sud", "Address": "4405.nantes-sud+agenda@x", "Form": false, "Notes": []string{"recurring", "Fuseau"},
		"Events": []map[string]any{{"Outcome": "created", "Event": map[string]any{"Title": "Réunion", "When": "samedi", "Until": "samedi",
			"Zone": "Europe/Paris", "Place": "Nantes", "Themes": "climat", "Public": true, "Cancelled": false, "UID": "u", "Groups": ""}}},
		// Weekly digest.
		"Place": "Nantes", "PostCode": "44000", "Radius": 25, "Stop": "https://x/agenda/stop/t", "ChangeRadius": "mailto:a", "ChangePlace": "mailto:b", "StopMail": "mailto:c",
		"Own": []map[string]any{{"Title": "Réunion", "When": "samedi", "Place": "Nantes", "Distance": "à 3 km", "Organisers": "organisé par A",
			"Calendar": "https://x/e.ics", "Themes": "climat", "Details": "d", "MembersOnly": true, "Attend": "https://x/a"}},
		"Near": []map[string]any{}, "Themes": []map[string]any{}, "Cancelled": []map[string]any{},
		"Active": true, "Located": true, "Unproven": false, "ForgetDays": 30, "Manage": "https://x/signin/l.1.x.y",
		"Link": "https://x/signin/t", "Minutes": 15, "Web": "https://x", "Welcome": "Bienvenue !", "OwnFooter": "Charte : https://x",
		"Body": "Rendez-vous à 18h.", "Sender": "Nantes Sud",
		"Event": map[string]any{"Title": "Réunion", "When": "samedi", "Place": "Nantes", "Groups": "4405.nantes-sud"}}
	fragments := map[string]bool{"list-footer": true, "list-commands": true, "ticket-withheld-note": true} // pieces of messages: no Subject
	for name, n := range names {
		if n != len(Languages) {
			t.Errorf("%s exists in %d of %d languages", name, n, len(Languages))
		}
		if fragments[name] {
			fr, err1 := s.Text("fr", name, data)
			en, err2 := s.Text("en", name, data)
			if err1 != nil || err2 != nil || fr == en {
				t.Errorf("%s: %v %v, or not translated", name, err1, err2)
			}
			continue
		}
		fr, err := s.Render("fr", name, data)
		if err != nil {
			t.Fatal(err)
		}
		en, err := s.Render("en", name, data)
		if err != nil {
			t.Fatal(err)
		}
		// An answer's subject is the request's, in both languages; so is an
		// animators' message's (their own words).
		if fr.Subject == en.Subject && name != "ticket-answer" && name != "event-message" || fr.Text == en.Text || fr.Lang != "fr" || en.Lang != "en" {
			t.Errorf("%s: fr and en are not distinct translations", name)
		}
	}
	// Unknown language: French.
	r, err := s.Render("de", "delivery-failed", data)
	if err != nil || r.Lang != "fr" || !strings.HasPrefix(r.Subject, "Non remis") {
		t.Fatalf("fallback: %+v %v", r, err)
	}
	// A missing key is an error, never "<no value>" in someone's mailbox.
	if _, err := s.Render("fr", "delivery-failed", map[string]string{}); err == nil {
		t.Fatal("missing data rendered")
	}
}

func TestRepliesAreOneLineAndBilingual(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range s.replies.Templates() {
		name := tt.Name()
		if name == "replies" || strings.HasPrefix(name, "why-") { // pieces of replies
			continue
		}
		got := s.Reply(name, map[string]string{"Addr": "a@b", "Reason": "r"})
		if name == got || strings.Contains(got, "\n") || !strings.Contains(got, " / ") {
			t.Errorf("%s: %q", name, got)
		}
	}
}

func TestOverride(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "fr"), 0o755)
	os.WriteFile(filepath.Join(dir, "fr", "delivery-failed.tmpl"), []byte("Subject: Oups {{.Subject}}\n\nRaté.\n"), 0o644)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.Render("fr", "delivery-failed", map[string]string{"Subject": "x"})
	if r.Subject != "Oups x" || r.Text != "Raté.\n" {
		t.Fatalf("%+v", r)
	}
	if r, _ := s.Render("en", "delivery-failed", map[string]string{"Subject": "x", "To": "", "Date": "", "Why": "", "Code": "", "Postmaster": "", "ID": "", "Hub": ""}); !strings.HasPrefix(r.Subject, "Undelivered") {
		t.Fatalf("en not built-in: %+v", r)
	}
	os.WriteFile(filepath.Join(dir, "fr", "delivery-failed.tmpl"), []byte("Subject: {{.Subject\n\nx\n"), 0o644)
	if _, err := Load(dir); err == nil {
		t.Fatal("broken override accepted")
	}
}

func TestCompose(t *testing.T) {
	s, _ := Load("")
	b, err := s.Compose("fr", "delivery-failed", map[string]string{"Subject": "Réunion", "To": "x@hub.example", "Date": "d",
		"Why": "gone", "Code": "", "Postmaster": "postmaster@hub.example", "ID": "abc", "Hub": "hub.example"},
		Envelope{From: "relais <postmaster@hub.example>", To: "marie@example.org", Hostname: "mx.hub.example",
			AutoSubmitted: "auto-replied", References: "<m1@example.org>"})
	if err != nil {
		t.Fatal(err)
	}
	msg := string(b)
	for _, want := range []string{"From: \"relais\" <postmaster@hub.example>\r\n", "To: <marie@example.org>\r\n", "Auto-Submitted: auto-replied\r\n",
		"In-Reply-To: <m1@example.org>\r\n", "Content-Language: fr\r\n", "Subject: =?UTF-8?q?Non_remis_:_R=C3=A9union?=\r\n", "@mx.hub.example>\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("composed message lacks %q:\n%s", want, msg)
		}
	}
}

// Every web page exists in every language, and is parsed with its layout.
func TestEveryWebPageInEveryLanguage(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	fr, _ := fs.Glob(builtin, "fr/web/*.html")
	en, _ := fs.Glob(builtin, "en/web/*.html")
	if len(fr) < 10 || len(fr) != len(en) {
		t.Fatalf("web pages: %d in French, %d in English", len(fr), len(en))
	}
	for _, f := range fr {
		name := strings.TrimSuffix(filepath.Base(f), ".html")
		if name == "layout" {
			continue
		}
		for _, lang := range Languages {
			p, err := s.Page(lang, "web/"+name)
			if err != nil || p.Lookup("main") == nil || p.Lookup("title") == nil {
				t.Errorf("%s/web/%s: %v, or no main or title block", lang, name, err)
			}
		}
	}
}
