package hub

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"

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

// open sends a first request from camille and returns the ack and nadia's
// notification.
func openTicket(t *testing.T, e *env) (ack, notif outbox.Mail) {
	t.Helper()
	e.mustSend(camille, "support@hub.example", mailTo(camille, "support@hub.example", "Tracts pour samedi", "<req1@exemple.fr>",
		"Bonjour, où récupérer les tracts pour samedi ?"))
	e.waitFor("ack and notifications", func(ms []outbox.Mail) bool { return len(ms) >= 3 })
	e.settle()
	ms := e.box.Mails()
	return to(ms, camille)[0], to(ms, nadia)[0]
}

// A provider that drops the +KEY: the Message-ID of ours under
// In-Reply-To still finds the ticket, for the requester and for an
// operator writing from their own address.
func TestTicketThreadingWithoutPlusKey(t *testing.T) {
	e := deskEnv(t)
	ack, notif := openTicket(t, e)
	e.mustSend(camille, "support@hub.example", mailTo(camille, "support@hub.example", "Re: Demande reçue", "<req2@exemple.fr>",
		"J'ajoute : 200 tracts suffiront.", "In-Reply-To: "+ack.Header().Get("Message-ID")+"\nReferences: <req1@exemple.fr> "+ack.Header().Get("Message-ID")+"\n"))
	e.waitFor("notifications of the reply", countTo(nadia, 2))
	e.settle()
	if tk, ms := ticketOf(t, e, 1); kinds(ms) != "request,reply" || ms[1].Text != "J'ajoute : 200 tracts suffiront." || tk.State != tickets.StateNew {
		t.Fatalf("reply not threaded: %s %q", kinds(ms), ms[len(ms)-1].Text)
	}
	// Nadia's provider drops the +KEY too: still her answer, through the
	// Message-ID made for her, from her address.
	e.mustSend(nadia, "support@hub.example", mailTo(nadia, "support@hub.example", "Re: tracts", "<op1@ops.example>",
		"Au local, à partir de 14 h.", "In-Reply-To: "+notif.Header().Get("Message-ID")+"\n"))
	e.waitFor("answer", countTo(camille, 2))
	e.settle()
	if tk, ms := ticketOf(t, e, 1); kinds(ms) != "request,reply,answer" || tk.State != tickets.StateOpen {
		t.Fatalf("operator's reply without +key: %s, state %s", kinds(ms), tk.State)
	}
	if got := text(to(e.box.Mails(), camille)[1]); !strings.HasPrefix(got, "Au local, à partir de 14 h.") {
		t.Errorf("answer text %q", got)
	}
	// The same Message-ID from someone else is no operator.
	e.mustSend("intrus@ailleurs.example", "support@hub.example", mailTo("intrus@ailleurs.example", "support@hub.example", "Re: tracts", "<x1@ailleurs.example>",
		"#fermer\nC'est réglé.", "In-Reply-To: "+notif.Header().Get("Message-ID")+"\n"))
	e.settle()
	tk, ms := ticketOf(t, e, 1)
	if kinds(ms) != "request,reply,answer,reply" || tk.State != tickets.StateOpen || ms[3].Author != "intrus@ailleurs.example" {
		t.Fatalf("outsider threaded under an operator's Message-ID: %s, state %s", kinds(ms), tk.State)
	}
	if n := len(to(e.box.Mails(), camille)); n != 2 {
		t.Errorf("camille got %d mails, want 2", n)
	}
}

// Outlook without In-Reply-To: the [#1] of the subject finds the ticket,
// from the requester only; the Outlook quote is trimmed.
func TestTicketOutlookReplyMatchedBySubjectNumber(t *testing.T) {
	e := deskEnv(t)
	openTicket(t, e)
	outlook := "Voici le plan d'accès.\n\n________________________________\nDe : Support national <support@hub.example>\nEnvoyé : samedi 21 novembre 2026 10:00\nÀ : camille@exemple.fr\nObjet : [#1] Demande reçue : Tracts pour samedi\n\nBonjour,\n\nVotre demande a bien été reçue."
	e.mustSend(camille, "support@hub.example", mailTo(camille, "support@hub.example", "RE : [#1] Demande reçue : Tracts pour samedi", "<req2@exemple.fr>", outlook))
	e.waitFor("notifications of the reply", countTo(nadia, 2))
	e.settle()
	_, ms := ticketOf(t, e, 1)
	if kinds(ms) != "request,reply" || ms[1].Text != "Voici le plan d'accès." {
		t.Fatalf("Outlook reply: %s %q", kinds(ms), ms[len(ms)-1].Text)
	}
	// The same subject from someone who is not on the ticket opens a new one.
	e.mustSend("autre@exemple.fr", "support@hub.example", mailTo("autre@exemple.fr", "support@hub.example", "RE : [#1] Demande reçue : Tracts pour samedi", "<o1@exemple.fr>", "Moi aussi je veux des tracts."))
	e.waitFor("second ticket's ack", countTo("autre@exemple.fr", 1))
	e.settle()
	tk, ms := ticketOf(t, e, 2)
	if tk.Requester != "autre@exemple.fr" || kinds(ms) != "request" || tk.Subject != "Demande reçue : Tracts pour samedi" {
		t.Fatalf("ticket 2: %+v %s", tk, kinds(ms))
	}
	if _, ms := ticketOf(t, e, 1); len(ms) != 2 {
		t.Errorf("ticket 1 got a stranger's mail")
	}
}

// A forged operator From without a key: neither a public answer nor a
// command; it is shown to the operators as what it is.
func TestTicketSpoofedOperatorHasNoPowers(t *testing.T) {
	e := deskEnv(t)
	ack, _ := openTicket(t, e)
	// By subject number, From nadia (who is on the ticket).
	e.mustSend(nadia, "support@hub.example", mailTo("Nadia <"+nadia+">", "support@hub.example", "Re: [#1] Tracts pour samedi", "<fake1@ops.example>",
		"#fermer\nRéponse officielle : il n'y a plus de tracts."))
	// Under the requester's Message-ID, From nadia.
	e.mustSend(nadia, "support@hub.example", mailTo("Nadia <"+nadia+">", "support@hub.example", "Re: tracts", "<fake2@ops.example>",
		"#resolu\nDeuxième tentative.", "In-Reply-To: "+ack.Header().Get("Message-ID")+"\n"))
	e.waitFor("notifications", countTo(paul, 3))
	e.settle()
	ms := e.box.Mails()
	if n := len(to(ms, camille)); n != 1 {
		t.Fatalf("a forged operator mail reached the requester: %d mails", n)
	}
	tk, tm := ticketOf(t, e, 1)
	if tk.State != tickets.StateNew || kinds(tm) != "request,reply,reply" {
		t.Fatalf("forged mail ran a command or was not recorded: state %s, %s", tk.State, kinds(tm))
	}
	warn := to(ms, paul)[1]
	if !strings.Contains(text(warn), "ce n'est pas le demandeur") || !strings.Contains(text(warn), "#fermer") {
		t.Errorf("operators are not told the mail came without a key:\n%s", text(warn))
	}
}

// Two auto-responders answer everything they get: the requester's
// out-of-office (replying to Reply-To) and another hub's desk (replying
// with its own acknowledgement). Both are attached, never answered: the
// number of messages the hub sends is bounded, and exact.
func TestTicketAutoRespondersDoNotLoop(t *testing.T) {
	e := deskEnv(t)
	const ooo, desk = "ooo@exemple.fr", "accueil@autre-hub.example"
	n := 0
	responders := map[string]func(m outbox.Mail) string{
		ooo: func(m outbox.Mail) string {
			n++
			return mailTo(ooo, m.Header().Get("Reply-To"), "Réponse automatique : "+subject(m), fmt.Sprintf("<ooo%d@exemple.fr>", n),
				"Je suis absente jusqu'au 30 novembre.", "Auto-Submitted: auto-replied\nIn-Reply-To: "+m.Header().Get("Message-ID")+"\n")
		},
		desk: func(m outbox.Mail) string {
			n++
			return mailTo(desk, m.Header().Get("Reply-To"), fmt.Sprintf("[#%d] Accusé de réception : %s", 40+n, subject(m)), fmt.Sprintf("<ack%d@autre-hub.example>", n),
				"Votre message a bien été reçu.", "X-Loop: accueil@autre-hub.example\nPrecedence: bulk\n")
		},
	}
	e.mustSend(ooo, "support@hub.example", mailTo(ooo, "support@hub.example", "Adhésion", "<a1@exemple.fr>", "Comment adhérer ?"))
	e.mustSend(desk, "support@hub.example", mailTo(desk, "support@hub.example", "Question du groupe", "<q1@autre-hub.example>", "Bonjour, une question."))
	e.converse(responders, 20)
	ms := e.box.Mails()
	if len(ms) != 6 || len(to(ms, ooo)) != 1 || len(to(ms, desk)) != 1 || len(to(ms, nadia)) != 2 || len(to(ms, paul)) != 2 {
		t.Fatalf("%d messages sent (ooo %d, desk %d, nadia %d), want 6: one ack each, two notifications each",
			len(ms), len(to(ms, ooo)), len(to(ms, desk)), len(to(ms, nadia)))
	}
	for id, want := range map[int64]string{1: "request,auto", 2: "request,auto"} {
		if tk, tm := ticketOf(t, e, id); kinds(tm) != want || tk.State != tickets.StateNew {
			t.Errorf("ticket %d: %s, state %s", id, kinds(tm), tk.State)
		}
	}
}

// A robot that answers every message with a new one, marked as nothing:
// each opens a ticket, but acknowledgements stop at acks_per_hour.
func TestTicketAcknowledgementsRateLimited(t *testing.T) {
	e := deskEnv(t)
	const robot = "robot@naif.example"
	n := 0
	responders := map[string]func(m outbox.Mail) string{
		robot: func(m outbox.Mail) string {
			n++
			return mailTo(robot, "support@hub.example", fmt.Sprintf("Message %d", n), fmt.Sprintf("<r%d@naif.example>", n), "Bien reçu, merci.")
		},
	}
	e.mustSend(robot, "support@hub.example", mailTo(robot, "support@hub.example", "Message 0", "<r0@naif.example>", "Bonjour."))
	e.converse(responders, 20)
	ms := e.box.Mails()
	acks := e.cfg.Tickets.AcksPerHour
	if len(to(ms, robot)) != acks || len(to(ms, nadia)) != acks+1 {
		t.Fatalf("robot got %d acks (want %d), nadia %d notifications (want %d)", len(to(ms, robot)), acks, len(to(ms, nadia)), acks+1)
	}
}

// converse plays the responders: each answers every mail the hub sends
// to it, until nothing new comes, for at most rounds rounds.
func (e *env) converse(responders map[string]func(outbox.Mail) string, rounds int) {
	e.t.Helper()
	seen := 0
	for r := 0; ; r++ {
		e.settle()
		ms := e.box.Mails()
		sent := 0
		for _, m := range ms[seen:] {
			if f, ok := responders[m.To]; ok {
				msg := f(m)
				_, rest, _ := strings.Cut(msg, "\r\nTo: ")
				rcpt, _, _ := strings.Cut(rest, "\r\n")
				e.mustSend(m.To, strings.Trim(rcpt, "<> "), msg)
				sent++
			}
		}
		seen = len(ms)
		if sent == 0 {
			return
		}
		if r == rounds {
			e.t.Fatalf("still going after %d rounds: a loop", rounds)
		}
	}
}

// States: #resolu then a requester's reply reopens; solved closes by
// itself; a reply to a ticket closed longer than reopen_within opens a
// new ticket that follows the old one.
func TestTicketStatesReopenAndFollow(t *testing.T) {
	e := deskEnv(t)
	ack, notif := openTicket(t, e)
	rk, nk := keyOf(t, ack, "Reply-To"), keyOf(t, notif, "Reply-To")
	e.mustSend(nadia, "support+"+nk+"@hub.example", mailTo(nadia, "support+"+nk+"@hub.example", "Re", "<op1@ops.example>", "#resolu\nAu local."))
	e.waitFor("answer", countTo(camille, 2))
	e.settle()
	if tk, _ := ticketOf(t, e, 1); tk.State != tickets.StateSolved {
		t.Fatalf("state %s, want solved", tk.State)
	}
	e.mustSend(camille, "support+"+rk+"@hub.example", mailTo(camille, "support+"+rk+"@hub.example", "Re", "<req2@exemple.fr>", "Le local est fermé !"))
	e.waitFor("reply", countTo(nadia, 2))
	e.settle()
	if tk, _ := ticketOf(t, e, 1); tk.State != tickets.StateOpen {
		t.Fatalf("a reply to a solved ticket leaves it %s", tk.State)
	}
	e.mustSend(nadia, "support+"+nk+"@hub.example", mailTo(nadia, "support+"+nk+"@hub.example", "Re", "<op2@ops.example>", "#resolu\nOuvert à 14 h."))
	e.waitFor("answer", countTo(camille, 3))
	e.settle()
	e.clock.advance(8 * 24 * time.Hour)
	if err := e.h.Tickets.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tk, _ := ticketOf(t, e, 1); tk.State != tickets.StateClosed {
		t.Fatalf("solved for 8 days: %s, want closed", tk.State)
	}
	e.clock.advance(31 * 24 * time.Hour)
	e.mustSend(camille, "support+"+rk+"@hub.example", mailTo(camille, "support+"+rk+"@hub.example", "Re: [#1] Tracts", "<req3@exemple.fr>", "Encore besoin de tracts pour décembre."))
	e.waitFor("ack of the new ticket", countTo(camille, 4))
	e.settle()
	tk, ms := ticketOf(t, e, 2)
	if tk.Follows != 1 || tk.Requester != camille || kinds(ms) != "request" || ms[0].Text != "Encore besoin de tracts pour décembre." {
		t.Fatalf("new ticket: follows %d, %s %q", tk.Follows, kinds(ms), ms[0].Text)
	}
	if old, _ := ticketOf(t, e, 1); old.State != tickets.StateClosed {
		t.Errorf("old ticket reopened: %s", old.State)
	}
	if s := subject(to(e.box.Mails(), camille)[3]); !strings.HasPrefix(s, "[#2] ") {
		t.Errorf("new ack subject %q", s)
	}
}

// Attachments pass to the other side both ways; beyond
// max_attachment_bytes they stay behind and the writer is told.
func TestTicketAttachments(t *testing.T) {
	e := deskEnv(t, func(c *config.Config) { c.Tickets.MaxAttachmentBytes = 20 << 10 })
	pdf := bytes.Repeat([]byte("%PDF-1.4 plan "), 100)
	withFile := func(from, rcpt, subj, id, body string, data []byte) string {
		return crlf("From: " + from + "\nTo: " + rcpt + "\nSubject: " + subj + "\nMessage-ID: " + id + "\nDate: Sat, 21 Nov 2026 10:00:00 +0100\n" +
			"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n" + body +
			"\n--b1\nContent-Type: application/pdf; name=\"plan.pdf\"\nContent-Disposition: attachment; filename=\"plan.pdf\"\nContent-Transfer-Encoding: base64\n\n" +
			b64(data) + "--b1--\n")
	}
	e.mustSend(camille, "support@hub.example", withFile(camille, "support@hub.example", "Plan", "<req1@exemple.fr>", "Voici le plan.", pdf))
	e.waitFor("notifications", countTo(paul, 1))
	e.settle()
	notif := to(e.box.Mails(), nadia)[0]
	if files := attachments(t, notif); len(files) != 1 || !bytes.Equal(files["plan.pdf"], pdf) {
		t.Fatalf("notification attachments: %v", keysOf(files))
	}
	nk := keyOf(t, notif, "Reply-To")
	big := bytes.Repeat([]byte("x"), 30<<10)
	e.mustSend(nadia, "support+"+nk+"@hub.example", withFile(nadia, "support+"+nk+"@hub.example", "Re", "<op1@ops.example>", "Le plan corrigé.", pdf))
	e.waitFor("answer", countTo(camille, 2))
	e.settle()
	ans := to(e.box.Mails(), camille)[1]
	if files := attachments(t, ans); len(files) != 1 || !bytes.Equal(files["plan.pdf"], pdf) {
		t.Fatalf("answer attachments: %v", keysOf(files))
	}
	rk := keyOf(t, ans, "Reply-To")
	e.mustSend(camille, "support+"+rk+"@hub.example", withFile(camille, "support+"+rk+"@hub.example", "Re", "<req2@exemple.fr>", "Et la vidéo.", big))
	e.waitFor("withheld notice", countTo(camille, 3))
	e.settle()
	ms := e.box.Mails()
	if s := subject(to(ms, camille)[2]); s != "[#1] Pièces jointes non transmises" {
		t.Errorf("notice subject %q", s)
	}
	n2 := to(ms, nadia)[1]
	if files := attachments(t, n2); len(files) != 0 || !strings.Contains(text(n2), "trop volumineuses") || !strings.Contains(text(n2), "Et la vidéo.") {
		t.Errorf("oversize reply: %d attachments passed, text:\n%s", len(files), text(n2))
	}
}

func b64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	return out.String() + s + "\n"
}

// attachments returns the attached files of m by name, decoded.
func attachments(t *testing.T, m outbox.Mail) map[string][]byte {
	t.Helper()
	e, err := message.Read(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	e.Walk(func(path []int, p *message.Entity, err error) error {
		if _, params, _ := p.Header.ContentDisposition(); params["filename"] != "" {
			b, _ := io.ReadAll(p.Body)
			out[params["filename"]] = b
		}
		return nil
	})
	return out
}

func keysOf(m map[string][]byte) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

// An operator answering inside the quote of a note's notification: the
// requester gets the operator's words only, no quoted line.
func TestTicketInlineAnswerLeaksNothing(t *testing.T) {
	e := deskEnv(t)
	_, notif := openTicket(t, e)
	noteAddr := regexp.MustCompile(`support\+[a-z2-7]{20,48}@hub\.example`).FindAllString(text(notif), -1)[0]
	e.mustSend(nadia, noteAddr, mailTo(nadia, noteAddr, "note", "<n1@ops.example>", "SECRET : la requérante est déjà venue trois fois."))
	e.waitFor("note to paul", countTo(paul, 2))
	e.settle()
	pn := to(e.box.Mails(), paul)[1]
	pk := keyOf(t, pn, "Reply-To")
	quoted := "> " + strings.ReplaceAll(strings.TrimSpace(text(pn)), "\n", "\n> ")
	cut := 200 + strings.Index(quoted[200:], "\n") // answer after the line that holds the note
	e.mustSend(paul, "support+"+pk+"@hub.example", mailTo(paul, "support+"+pk+"@hub.example", "Re: note", "<p1@ops.example>",
		quoted[:cut]+"\nBonjour, les tracts sont au local.\n"+quoted[cut+1:]+"\nÀ samedi."))
	e.waitFor("answer", countTo(camille, 2))
	e.settle()
	ans := text(to(e.box.Mails(), camille)[1])
	if strings.Contains(ans, "SECRET") || strings.Contains(ans, "\n>") || strings.Contains(ans, "nadia") || !strings.HasPrefix(ans, "Bonjour, les tracts sont au local.\r\nÀ samedi.") {
		t.Fatalf("answer to the requester:\n%s", ans)
	}
}

// An operator removed from the queue loses their powers at once, keys
// still valid or not.
func TestTicketRemovedOperatorHasNoPowers(t *testing.T) {
	e := deskEnv(t)
	_, notif := openTicket(t, e)
	nk := keyOf(t, notif, "Reply-To")
	if _, err := tickets.SaveQueue(context.Background(), e.h.DB, domain, tickets.Queue{Name: "support", DisplayName: "Support national", Operators: []string{paul}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.mustSend(nadia, "support+"+nk+"@hub.example", mailTo(nadia, "support+"+nk+"@hub.example", "Re", "<op1@ops.example>", "#fermer\nAu revoir."))
	e.waitFor("notification to paul", countTo(paul, 2))
	e.settle()
	tk, ms := ticketOf(t, e, 1)
	if tk.State != tickets.StateNew || kinds(ms) != "request,reply" || len(to(e.box.Mails(), camille)) != 1 {
		t.Fatalf("removed operator acted: state %s, %s", tk.State, kinds(ms))
	}
}

// Two operators whose auto-responders mark nothing answer each other
// through the ticket: the hourly cap per ticket ends it.
func TestTicketOperatorAutoRepliesBounded(t *testing.T) {
	e := deskEnv(t)
	n := 0
	vacation := func(from string) func(m outbox.Mail) string {
		return func(m outbox.Mail) string {
			n++
			return mailTo(from, m.Header().Get("Reply-To"), "Re: "+subject(m), fmt.Sprintf("<v%d@ops.example>", n), "Je suis en congés jusqu'au 30.")
		}
	}
	e.mustSend(camille, "support@hub.example", mailTo(camille, "support@hub.example", "Tracts", "<req1@exemple.fr>", "Bonjour."))
	e.converse(map[string]func(outbox.Mail) string{nadia: vacation(nadia), paul: vacation(paul)}, 60)
	if ms := e.box.Mails(); len(ms) != 31 {
		t.Fatalf("%d messages sent, want 31: one acknowledgement and 30 sent for the ticket in the hour", len(ms))
	}
}

// A late reply to a long-closed ticket, arriving twice (to the key and Cc
// the queue): one new ticket, one acknowledgement.
func TestTicketLateReplyTwiceOpensOneTicket(t *testing.T) {
	e := deskEnv(t)
	ack, notif := openTicket(t, e)
	nk, rk := keyOf(t, notif, "Reply-To"), keyOf(t, ack, "Reply-To")
	e.mustSend(nadia, "support+"+nk+"@hub.example", mailTo(nadia, "support+"+nk+"@hub.example", "Re", "<op1@ops.example>", "#fermer\nC'est fait."))
	e.waitFor("answer", countTo(camille, 2))
	e.clock.advance(40 * 24 * time.Hour)
	msg := mailTo(camille, "support+"+rk+"@hub.example", "Re: [#1] Tracts", "<late@exemple.fr>", "Encore moi.", "Cc: support@hub.example\n")
	if err := e.send(camille, []string{"support+" + rk + "@hub.example", "support@hub.example"}, msg); err != nil {
		t.Fatal(err)
	}
	e.waitFor("ack", countTo(camille, 3))
	e.settle()
	if ts, err := tickets.List(context.Background(), e.h.DB, "", ""); err != nil || len(ts) != 2 {
		t.Fatalf("%d tickets, want 2 (%v)", len(ts), err)
	}
	if n := len(to(e.box.Mails(), camille)); n != 3 {
		t.Errorf("camille got %d mails, want 3", n)
	}
}
