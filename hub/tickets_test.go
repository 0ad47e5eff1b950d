package hub

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/outbox"
	"codeberg.org/relais/relais/tickets"
)

const (
	nadia   = "nadia@ops.example"
	paul    = "paul@ops.example"
	camille = "camille@exemple.fr"
)

var keyAddrRE = regexp.MustCompile(`^support\+([a-z2-7]{20,48})@hub\.example$`)

// deskEnv is a hub with the queue support@ (operators nadia and paul).
func deskEnv(t *testing.T, tweak ...func(*config.Config)) *env {
	t.Helper()
	e := newEnv(t, tweak...)
	if _, err := tickets.SaveQueue(context.Background(), e.h.DB, domain, tickets.Queue{
		Name: "support", DisplayName: "Support national", Operators: []string{nadia, paul},
	}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return e
}

// mailTo builds a message from, to, with extra header lines.
func mailTo(from, rcpt, subject, msgID, body string, extra ...string) string {
	return crlf("From: " + from + "\nTo: " + rcpt + "\nSubject: " + subject + "\nDate: Sat, 21 Nov 2026 10:00:00 +0100\n" +
		"Message-ID: " + msgID + "\n" + strings.Join(extra, "") +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body + "\n")
}

func (e *env) mustSend(from, rcpt, msg string) {
	e.t.Helper()
	if err := e.send(from, []string{rcpt}, msg); err != nil {
		e.t.Fatalf("send to %s: %v", rcpt, err)
	}
}

// keyOf returns the key of a support+KEY@ address in field of m.
func keyOf(t *testing.T, m outbox.Mail, field string) string {
	t.Helper()
	a := addr(t, m.Header().Get(field))
	k := keyAddrRE.FindStringSubmatch(a)
	if k == nil {
		t.Fatalf("%s %q is not a reply address", field, a)
	}
	return k[1]
}

// checkMessageID checks that the Message-ID of m carries key.
func checkMessageID(t *testing.T, m outbox.Mail, key string) string {
	t.Helper()
	id := m.Header().Get("Message-ID")
	if !regexp.MustCompile(`^<` + key + `\.[0-9a-f]{12}@mx\.hub\.example>$`).MatchString(id) {
		t.Fatalf("Message-ID %q does not carry key %s", id, key)
	}
	return id
}

func ticketOf(t *testing.T, e *env, n int64) (tickets.Ticket, []tickets.Message) {
	t.Helper()
	tk, ms, err := tickets.Get(context.Background(), e.h.DB, n)
	if err != nil {
		t.Fatal(err)
	}
	return tk, ms
}

func kinds(ms []tickets.Message) string {
	var k []string
	for _, m := range ms {
		k = append(k, m.Kind)
	}
	return strings.Join(k, ",")
}

// A whole conversation: request → acknowledgement → operator answer →
// requester reply → internal note → #assigner + #fermer with a last
// answer; recipients, From, Reply-To and threading checked at each step.
func TestTicketConversation(t *testing.T) {
	e := deskEnv(t)
	e.mustSend(camille, "support@hub.example", mailTo("Camille Martin <"+camille+">", "support@hub.example",
		"Salle pour la réunion du 12", "<req1@exemple.fr>", "Bonjour,\nIl nous faut une salle pour 40 personnes le 12.\nCamille"))
	ms := e.waitFor("ack and two notifications", func(ms []outbox.Mail) bool { return len(ms) >= 3 })
	e.settle()
	ms = e.box.Mails()
	if len(ms) != 3 || len(to(ms, camille)) != 1 || len(to(ms, nadia)) != 1 || len(to(ms, paul)) != 1 {
		t.Fatalf("want ack to camille and one notification each to nadia and paul, got %d mails", len(ms))
	}
	ack := to(ms, camille)[0]
	h := ack.Header()
	if got := h.Get("From"); got != `"Support national" <support@hub.example>` {
		t.Errorf("ack From %q", got)
	}
	rk := keyOf(t, ack, "Reply-To")
	ackID := checkMessageID(t, ack, rk)
	if h.Get("In-Reply-To") != "<req1@exemple.fr>" || h.Get("References") != "<req1@exemple.fr>" {
		t.Errorf("ack threading: In-Reply-To %q References %q", h.Get("In-Reply-To"), h.Get("References"))
	}
	if h.Get("Auto-Submitted") != "auto-replied" || h.Get("X-Loop") != "support@hub.example" {
		t.Errorf("ack marks: Auto-Submitted %q X-Loop %q", h.Get("Auto-Submitted"), h.Get("X-Loop"))
	}
	if s := subject(ack); s != "[#1] Demande reçue : Salle pour la réunion du 12" {
		t.Errorf("ack subject %q", s)
	}
	if !strings.HasPrefix(ack.From, "bounces+") {
		t.Errorf("ack envelope sender %q", ack.From)
	}
	nn := to(ms, nadia)[0]
	nk := keyOf(t, nn, "Reply-To")
	if addr(t, nn.Header().Get("From")) != "support+"+nk+"@hub.example" || nk == rk {
		t.Errorf("notification From %q, Reply-To key %s (requester's %s)", nn.Header().Get("From"), nk, rk)
	}
	nnID := checkMessageID(t, nn, nk)
	if nn.Header().Get("Auto-Submitted") != "auto-generated" || !strings.Contains(nn.Header().Get("References"), "<req1@exemple.fr>") {
		t.Errorf("notification marks: %q, References %q", nn.Header().Get("Auto-Submitted"), nn.Header().Get("References"))
	}
	body := text(nn)
	note := regexp.MustCompile(`support\+[a-z2-7]{20,48}@hub\.example`).FindAllString(body, -1)
	if !strings.Contains(body, "Il nous faut une salle pour 40 personnes le 12.") || len(note) != 1 || note[0] == "support+"+nk+"@hub.example" {
		t.Fatalf("notification text lacks the request or one distinct note address:\n%s", body)
	}
	noteAddr := note[0]
	if s := subject(nn); s != "[#1] Nouvelle demande : Salle pour la réunion du 12" {
		t.Errorf("notification subject %q", s)
	}

	// Nadia answers from her mail client, quoting the notification (which
	// holds her note address: it must not reach Camille).
	quote := "> " + strings.ReplaceAll(strings.TrimSpace(body), "\n", "\n> ")
	e.mustSend(nadia, "support+"+nk+"@hub.example", mailTo("Nadia <"+nadia+">", "support+"+nk+"@hub.example",
		"Re: "+subject(nn), "<op1@ops.example>",
		"Bonjour Camille,\nLa salle Pierre-Mendès est réservée pour le 12.\n\nLe sam. 21 nov. 2026 à 10:00, Camille Martin via support <support+"+nk+"@hub.example> a écrit :\n"+quote,
		"In-Reply-To: "+nnID+"\n"))
	ms = e.waitFor("answer to camille", countTo(camille, 2))
	e.settle()
	ms = e.box.Mails()
	ans := to(ms, camille)[1]
	ah := ans.Header()
	if ah.Get("From") != `"Support national" <support@hub.example>` || keyOf(t, ans, "Reply-To") != rk {
		t.Errorf("answer From %q Reply-To %q", ah.Get("From"), ah.Get("Reply-To"))
	}
	checkMessageID(t, ans, rk)
	if ah.Get("In-Reply-To") != "<req1@exemple.fr>" || ah.Get("Auto-Submitted") != "" {
		t.Errorf("answer In-Reply-To %q Auto-Submitted %q", ah.Get("In-Reply-To"), ah.Get("Auto-Submitted"))
	}
	if strings.Contains(string(ans.Data), "nadia") || strings.Contains(string(ans.Data), nk) || strings.Contains(string(ans.Data), noteAddr) {
		t.Errorf("the answer shows the operator's address or keys:\n%s", ans.Data)
	}
	if at := text(ans); !strings.HasPrefix(at, "Bonjour Camille,\r\nLa salle Pierre-Mendès est réservée pour le 12.\r\n\r\n-- ") || strings.Contains(at, "a écrit") {
		t.Errorf("answer text:\n%s", at)
	}
	if s := subject(ans); s != "Re: [#1] Salle pour la réunion du 12" {
		t.Errorf("answer subject %q", s)
	}
	if n := len(to(ms, paul)); n != 2 || !strings.Contains(subject(to(ms, paul)[1]), "Réponse envoyée") {
		t.Errorf("paul should hear of nadia's answer: %d mails", n)
	}
	if len(to(ms, nadia)) != 1 {
		t.Errorf("nadia is told of her own answer")
	}

	// Camille replies to the answer, bottom-posting.
	e.mustSend(camille, "support+"+rk+"@hub.example", mailTo(camille, "support+"+rk+"@hub.example", "Re: "+subject(ans), "<req2@exemple.fr>",
		"> La salle Pierre-Mendès est réservée pour le 12.\n\nMerci ! Et pour les chaises ?", "In-Reply-To: "+ah.Get("Message-ID")+"\n"))
	e.waitFor("reply notifications", func(ms []outbox.Mail) bool { return len(to(ms, nadia)) == 2 && len(to(ms, paul)) == 3 })
	e.settle()
	ms = e.box.Mails()
	if len(to(ms, camille)) != 2 {
		t.Errorf("a reply is acknowledged: camille has %d mails", len(to(ms, camille)))
	}
	rn := to(ms, nadia)[1]
	if tx := text(rn); !strings.Contains(tx, "Merci ! Et pour les chaises ?") || strings.Contains(tx, "> La salle") {
		t.Errorf("reply notification text:\n%s", tx)
	}

	// Nadia writes an internal note: Paul hears of it, Camille never.
	e.mustSend(nadia, noteAddr, mailTo(nadia, noteAddr, "Re: chaises", "<op2@ops.example>", "Paul, tu peux voir pour les chaises ?"))
	e.waitFor("note to paul", countTo(paul, 4))
	e.settle()
	ms = e.box.Mails()
	pn := to(ms, paul)[3]
	if !strings.Contains(subject(pn), "Note interne") || !strings.Contains(text(pn), "Paul, tu peux voir pour les chaises ?") {
		t.Errorf("note notification: %q\n%s", subject(pn), text(pn))
	}
	if len(to(ms, camille)) != 2 || len(to(ms, nadia)) != 2 {
		t.Errorf("the note went further than paul")
	}

	// Paul assigns the ticket to himself and closes it with a last answer.
	pk := keyOf(t, to(ms, paul)[0], "Reply-To")
	e.mustSend(paul, "support+"+pk+"@hub.example", mailTo(paul, "support+"+pk+"@hub.example", "Re: chaises", "<op3@ops.example>",
		"#assigner paul@\n#fermer\nLes chaises sont prévues aussi.\nPaul"))
	e.waitFor("last answer", countTo(camille, 3))
	e.settle()
	ms = e.box.Mails()
	last := to(ms, camille)[2]
	if lt := text(last); !strings.HasPrefix(lt, "Les chaises sont prévues aussi.\r\nPaul\r\n") || strings.Contains(lt, "#fermer") || strings.Contains(lt, "#assigner") {
		t.Errorf("last answer text:\n%s", lt)
	}
	if !strings.Contains(text(last), "(close)") {
		t.Errorf("last answer does not say the request is closed:\n%s", text(last))
	}
	tk, tm := ticketOf(t, e, 1)
	if tk.State != tickets.StateClosed || tk.Assignee != paul || kinds(tm) != "request,answer,reply,note,answer" {
		t.Errorf("ticket: state %s assignee %q messages %s", tk.State, tk.Assignee, kinds(tm))
	}
	if tm[2].Text != "Merci ! Et pour les chaises ?" {
		t.Errorf("reply stored as %q", tm[2].Text)
	}
	if tm[4].Text != "Les chaises sont prévues aussi.\nPaul" {
		t.Errorf("answer stored as %q", tm[4].Text)
	}
	// Raw kept whole, quote included.
	raw, err := tickets.Raw(context.Background(), e.h.DB, tm[1].ID)
	if err != nil || !bytes.Contains(raw, []byte("a écrit :")) {
		t.Errorf("raw of the answer not kept whole: %v", err)
	}
	// In all: 3 to camille, 2 to nadia, 4 to paul (the ack of #fermer's
	// answer goes to nobody: Paul wrote it, the others hear nothing).
	if len(ms) != 9 {
		t.Errorf("%d messages sent, want 9", len(ms))
	}
	_ = ackID
}
