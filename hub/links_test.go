package hub

import (
	"bytes"
	"html"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"

	"codeberg.org/relais/relais/internal/mention"
	"codeberg.org/relais/relais/outbox"
)

// Links: no address in any link the hub writes (issue 14). Every test hub
// checks, when its test ends, every link of every message it sent (header
// fields and every part, decoded), and of the pages its web links lead to:
// none may carry a person's address, nor its base32 or base64 encoding.

var (
	urlRE   = regexp.MustCompile(`(?i)(?:https?://|mailto:)[^\s"'<>]+`)
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+`)
	// hubAddrRE: the hub's own addresses with a +detail, which are links too
	// (Reply-To: LIST+confirm-TOKEN@, QUEUE+KEY@, bounces+ID-MAC@).
	hubAddrRE = regexp.MustCompile(`(?i)[a-z0-9._\-]+\+[^\s@"<>]+@hub\.example`)
)

// mailLinks returns the links of a captured mail, and the personal
// addresses it names (outside the hub's domain).
func mailLinks(m outbox.Mail) (links, people []string) {
	var texts []string
	texts = append(texts, m.From, m.To)
	people = append(people, strings.ToLower(m.To), strings.ToLower(m.From))
	e, err := message.Read(bytes.NewReader(m.Data))
	if e == nil {
		return nil, nil
	}
	_ = err
	var walk func(e *message.Entity)
	walk = func(e *message.Entity) {
		f := e.Header.Fields()
		for f.Next() {
			v := f.Value()
			if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
				v = d
			}
			texts = append(texts, v)
			switch strings.ToLower(f.Key()) {
			case "from", "to", "cc", "reply-to", "sender":
				for _, a := range emailRE.FindAllString(v, -1) {
					people = append(people, strings.ToLower(a))
				}
			}
		}
		if mr := e.MultipartReader(); mr != nil {
			for {
				p, err := mr.NextPart()
				if err != nil {
					return
				}
				walk(p)
			}
		}
		b, _ := io.ReadAll(e.Body)
		texts = append(texts, string(b))
		if t, _, _ := e.Header.ContentType(); t == "message/rfc822" {
			// An attached message (a held post) is the writer's, not the
			// hub's: its links are not the hub's to make.
			texts = texts[:len(texts)-1]
		}
	}
	walk(e)
	for _, s := range texts {
		links = append(links, urlRE.FindAllString(s, -1)...)
		links = append(links, hubAddrRE.FindAllString(s, -1)...)
	}
	out := people[:0]
	for _, a := range people {
		if strings.Contains(a, "@") && !strings.Contains(a, "hub.example") {
			out = append(out, a)
		}
	}
	return links, out
}

// auditLinks fails t if a link of what e's hub sent, or of the pages its
// web links lead to, carries an address of someone the hub wrote to or
// about. Pages are fetched with GET, which changes nothing.
func auditLinks(t testing.TB, e *env) {
	if e.box == nil || e.h == nil {
		return
	}
	people := map[string]bool{}
	var links []string
	for _, m := range e.box.Mails() {
		l, p := mailLinks(m)
		links = append(links, l...)
		for _, a := range p {
			people[a] = true
		}
	}
	// The pages: those the mail's links lead to, the public pages (the
	// agenda, sign-in), and the pages their own links lead to on the hub,
	// breadth first, GET only (which changes nothing), at most 40.
	base := "http://" + e.h.WebAddr().String()
	queue := []string{base + "/", base + "/agenda", base + "/signin"}
	for _, l := range links {
		if strings.HasPrefix(l, base) {
			queue = append(queue, l)
		}
	}
	pages := map[string]bool{}
	client := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		links = append(links, req.URL.String()) // a redirect is a link too
		return nil
	}}
	hrefRE := regexp.MustCompile(`(?i)(?:action|href|src)="([^"]+)"`)
	for len(queue) > 0 && len(pages) < 40 {
		p := queue[0]
		queue = queue[1:]
		if pages[p] {
			continue
		}
		pages[p] = true
		resp, err := client.Get(p)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		links = append(links, urlRE.FindAllString(string(b), -1)...)
		for _, a := range hrefRE.FindAllStringSubmatch(string(b), -1) {
			links = append(links, a[1])
			if u := html.UnescapeString(a[1]); strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.HasSuffix(u, ".css") {
				queue = append(queue, base+u)
			}
		}
	}
	linksAudited.add(len(links))
	for _, l := range links {
		for a := range people {
			if mention.In([]byte(l), a) {
				t.Errorf("a link names %s: %s", a, l)
			}
		}
	}
}

// linksAudited counts the links checked over the package's tests.
var linksAudited counter

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add(n int) { c.mu.Lock(); c.n += n; c.mu.Unlock() }
func (c *counter) get() int  { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func TestMailLinks(t *testing.T) {
	m := outbox.Mail{From: "bounces+1-abc@hub.example", To: "alice@example.org", Data: []byte(crlf(
		"From: liste-4405.x@hub.example\nTo: alice@example.org\nList-Unsubscribe: <http://127.0.0.1:1/u/12-abc>,\n <mailto:4405.x+unsubscribe@hub.example>\n" +
			"MIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" +
			"QXJyw6p0ZXIgOiBodHRwOi8vMTI3LjAuMC4xOjEvYWdlbmRhL3N0b3AvTUZXR1NZM0ZJQlNYUVlMTk9CV0dLTFRQT0pUUS54eXo=\n"))}
	links, people := mailLinks(m)
	bad := 0
	for _, l := range links {
		if mention.In([]byte(l), "alice@example.org") {
			bad++
		}
	}
	if bad != 1 || len(people) == 0 {
		t.Fatalf("links %v people %v: the old base32 link must be caught", links, people)
	}
}
