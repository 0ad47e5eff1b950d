package tickets

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/queue"
	"codeberg.org/relais/relais/store"
	"codeberg.org/relais/relais/templates"
)

// FuzzTrim: no input makes the trimmer fail, and what it keeps is made of
// the input's own lines.
func FuzzTrim(f *testing.F) {
	for _, s := range []string{
		"Oui.\n\nLe lun. 3 juin 2024 à 10:12, X <\nx@y> a écrit :\n> q",
		"> a\nb\n> c\nd\n> e", "-- \n", "De : x\nEnvoyé : y\nÀ : z\n", "Le\nLe\nLe a écrit :",
		"<div class=gmail_quote>x</div><blockquote type=cite>y", "\r\n\r\n>", "Envoyé de mon iPhone",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := map[string]bool{}
		for _, l := range splitLines(s) {
			in[l] = true
		}
		for _, l := range strings.Split(Trim(s), "\n") {
			if l != "" && !in[l] {
				t.Fatalf("line %q is not from the input", l)
			}
		}
		Trim(HTMLText(s))
		Read([]byte(s))
	})
}

// FuzzReceive runs the matcher and the handler on any message sent to a
// queue with a ticket open: nothing panics, and without an operator's key
// nothing closes the ticket or reaches the requester as an answer.
func FuzzReceive(f *testing.F) {
	ctx := context.Background()
	db, err := store.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := queue.New(ctx, db, queue.Config{Domain: "hub.example", RetryMin: time.Minute, RetryMax: time.Hour, GiveUpAfter: 24 * time.Hour}, log)
	if err != nil {
		f.Fatal(err)
	}
	texts, err := templates.Load("")
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(ctx, db, q, texts, Config{Domain: "hub.example", Hostname: "mx.hub.example", KeyTTL: 30 * 24 * time.Hour,
		ReopenWithin: time.Hour, CloseSolvedAfter: time.Hour, AcksPerHour: 3, MaxFileBytes: 1 << 20}, log)
	if err != nil {
		f.Fatal(err)
	}
	_, err = SaveQueue(ctx, db, "hub.example", Queue{Name: "support", Operators: []string{"op@ops.example"}}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	receive := func(raw []byte, detail string) error {
		target, err := s.Route(ctx, "support", detail)
		if err != nil {
			return err
		}
		return db.Write(ctx, func(tx *store.Tx) error {
			id := store.NewID()
			if _, err := tx.Exec("message.insert", id, time.Now().Unix(), "x@exemple.fr", "127.0.0.1", "h", false, true, len(raw), raw); err != nil {
				return err
			}
			m, err := tx.Received(id)
			if err != nil {
				return err
			}
			return s.Receive(tx, target, m)
		})
	}
	open := "From: camille@exemple.fr\r\nSubject: Salle\r\nMessage-ID: <r1@exemple.fr>\r\n\r\nBonjour\r\n"
	if err := receive([]byte(open), ""); err != nil {
		f.Fatal(err)
	}
	var reqKey string
	err = db.Write(ctx, func(tx *store.Tx) error {
		t, err := getTicket(tx, 1)
		if err != nil {
			return err
		}
		reqKey, err = s.key(tx, t, t.Requester, Requester)
		return err
	})
	if err != nil {
		f.Fatal(err)
	}

	for _, seed := range []struct{ raw, detail string }{
		{"From: op@ops.example\r\nSubject: Re: [#1] Salle\r\n\r\n#fermer\r\nRéponse\r\n", ""},
		{"From: camille@exemple.fr\r\nIn-Reply-To: <" + reqKey + ".0011@mx.hub.example>\r\n\r\nMerci\r\n", ""},
		{"From: op@ops.example\r\nSubject: x\r\n\r\n#note\r\n", reqKey},
		{"From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>hi\r\n--x--\r\n", ""},
		{"Subject: [#1]\r\nAuto-Submitted: auto-replied\r\n\r\n", reqKey},
	} {
		f.Add([]byte(seed.raw), seed.detail)
	}
	f.Fuzz(func(t *testing.T, raw []byte, detail string) {
		if err := receive(raw, strings.ToLower(detail)); err != nil && err != ErrBadKey && err != ErrNotFound {
			t.Fatalf("receive: %v", err)
		}
		tk, ms, err := Get(ctx, db, 1)
		if err != nil {
			t.Fatal(err)
		}
		if tk.State != StateNew && tk.State != StateOpen {
			t.Fatalf("ticket became %s without an operator key", tk.State)
		}
		for _, m := range ms {
			if m.Kind == "answer" || m.Kind == "note" {
				t.Fatalf("a %s without an operator key", m.Kind)
			}
		}
	})
}
