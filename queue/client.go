package queue

// The queue's SMTP client (RFC 5321) for its sessions with the relay.
//
// go-smtp's client sends each command and waits for its reply, and writes
// the message through a dot-writer that makes a write per line: four round
// trips and dozens of writes per copy, where a list sends ten thousand
// copies in a row over the same connections. This client pipelines (RFC
// 2920): a copy's MAIL, RCPT and DATA go in one write, and its content
// goes with the next copy's MAIL, RCPT and DATA, so that in a steady
// stream each copy costs one write and one read. It does only what the
// queue needs: EHLO (HELO when refused), STARTTLS (RFC 3207), AUTH PLAIN
// (RFC 4616), one recipient per transaction, SIZE (RFC 1870), 8BITMIME
// (RFC 6152), SMTPUTF8 (RFC 6531). Without PIPELINING from the relay it
// waits for each reply in turn, as go-smtp does.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// client is one session with the relay.
type client struct {
	conn       net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	ext        map[string]string // EHLO keywords, upper case
	pipelining bool
	tls        bool
	timeout    time.Duration
	// open: the last transaction ended before its content (a refused
	// recipient): RSET before the next MAIL.
	open bool
}

// errProtocol: the relay said something that is not an SMTP reply.
var errProtocol = errors.New("malformed reply from the relay")

// writeBuffer holds a copy's content and the next copy's commands in one
// write; larger messages go out in several.
const writeBuffer = 64 << 10

func newClient(conn net.Conn, timeout time.Duration) *client {
	return &client{conn: conn, br: bufio.NewReaderSize(conn, 4096), bw: bufio.NewWriterSize(conn, writeBuffer), timeout: timeout}
}

// reply is one SMTP reply: its code and its text, lines joined by "\n".
type reply struct {
	code int
	text string
}

// err returns the reply as go-smtp's error type, the enhanced status code
// (RFC 3463) split off as go-smtp does, for classify.
func (r reply) err() *smtp.SMTPError {
	e := &smtp.SMTPError{Code: r.code, Message: r.text}
	first, rest, ok := strings.Cut(r.text, " ")
	if !ok {
		return e
	}
	parts := strings.Split(first, ".")
	if len(parts) != 3 {
		return e
	}
	var ec smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return e
		}
		ec[i] = n
	}
	e.EnhancedCode = ec
	e.Message = strings.ReplaceAll(rest, "\n"+first+" ", "\n") // RFC 2034: on each line
	return e
}

// read reads one reply, waiting at most the client's timeout.
func (c *client) read() (reply, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	var r reply
	var lines []string
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return r, err
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 || len(line) > 3 && line[3] != ' ' && line[3] != '-' {
			return r, fmt.Errorf("%w: %q", errProtocol, line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 || r.code != 0 && code != r.code {
			return r, fmt.Errorf("%w: %q", errProtocol, line)
		}
		r.code = code
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		lines = append(lines, text)
		if len(line) == 3 || line[3] == ' ' {
			r.text = strings.Join(lines, "\n")
			return r, nil
		}
	}
}

// cmd sends one line and waits for its reply.
func (c *client) cmd(line string) (reply, error) {
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
	if err := c.flush(); err != nil {
		return reply{}, err
	}
	return c.read()
}

func (c *client) flush() error {
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.bw.Flush()
}

// expect turns a reply other than want into an error.
func expect(r reply, err error, want int) error {
	if err != nil {
		return err
	}
	if r.code != want {
		return r.err()
	}
	return nil
}

// hello reads the greeting if first, then says EHLO (HELO if the relay
// refuses it) and learns the relay's extensions.
func (c *client) hello(name string, first bool) error {
	if first {
		r, err := c.read()
		if err := expect(r, err, 220); err != nil {
			return err
		}
	}
	r, err := c.cmd("EHLO " + name)
	if err != nil {
		return err
	}
	c.ext = map[string]string{}
	if r.code != 250 {
		r, err := c.cmd("HELO " + name)
		if err := expect(r, err, 250); err != nil {
			return err
		}
		c.pipelining = false
		return nil
	}
	for _, l := range strings.Split(r.text, "\n")[1:] {
		k, v, _ := strings.Cut(l, " ")
		c.ext[strings.ToUpper(k)] = v
	}
	_, c.pipelining = c.ext["PIPELINING"]
	return nil
}

// startTLS upgrades the session (RFC 3207 §4: EHLO again, over TLS).
func (c *client) startTLS(cfg *tls.Config, name string) error {
	r, err := c.cmd("STARTTLS")
	if err := expect(r, err, 220); err != nil {
		return err
	}
	tc := tls.Client(c.conn, cfg)
	tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	c.conn, c.tls = tc, true
	c.br.Reset(tc)
	c.bw.Reset(tc)
	return c.hello(name, false)
}

// auth logs in with AUTH PLAIN (RFC 4616), the initial response in the
// command (RFC 4954 §4).
func (c *client) auth(user, pass string) error {
	resp := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	r, err := c.cmd("AUTH PLAIN " + resp)
	return expect(r, err, 235)
}

// quit says goodbye and closes, whatever the relay answers.
func (c *client) quit() {
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	c.bw.WriteString("QUIT\r\n")
	if c.bw.Flush() == nil {
		c.read()
	}
	c.conn.Close()
}

// envelope is what a transaction needs besides the content.
type envelope struct {
	from, rcpt  string
	size        int
	utf8, eight bool
	id          int64 // the delivery, sent as the DSN envelope id
}

var (
	errBadAddress = errors.New("address with a line break or an angle bracket")
	errNoSMTPUTF8 = errors.New("the relay does not offer SMTPUTF8, which the message needs")
)

// mailCommand is the MAIL command for e, with the parameters the relay
// offers and the message needs.
func (c *client) mailCommand(e envelope) (string, error) {
	if strings.ContainsAny(e.from, "\r\n<>") || strings.ContainsAny(e.rcpt, "\r\n<>") {
		return "", errBadAddress
	}
	var b strings.Builder
	b.WriteString("MAIL FROM:<")
	b.WriteString(e.from)
	b.WriteByte('>')
	if _, ok := c.ext["8BITMIME"]; ok && e.eight {
		b.WriteString(" BODY=8BITMIME")
	}
	if _, ok := c.ext["SIZE"]; ok && e.size > 0 {
		b.WriteString(" SIZE=")
		b.WriteString(strconv.Itoa(e.size))
	}
	if _, ok := c.ext["DSN"]; ok && e.id > 0 {
		// RFC 3461 §4.4: the envelope id names the delivery, so a relay's
		// report (and the demo's outbox, which files each copy under it)
		// says which one it is about, even for a null sender.
		b.WriteString(" ENVID=relais-")
		b.WriteString(strconv.FormatInt(e.id, 10))
	}
	if e.utf8 {
		if _, ok := c.ext["SMTPUTF8"]; !ok {
			return "", errNoSMTPUTF8
		}
		b.WriteString(" SMTPUTF8")
	}
	return b.String(), nil
}

// writeEnvelope writes, unflushed, RSET if the last transaction was left
// open, then mail, RCPT and DATA (RFC 2920 §3.1: DATA ends the group). It
// says whether RSET was written: its reply comes first.
func (c *client) writeEnvelope(mail, rcpt string) (rset bool) {
	if c.open {
		c.bw.WriteString("RSET\r\n")
		rset, c.open = true, false
	}
	c.bw.WriteString(mail)
	c.bw.WriteString("\r\nRCPT TO:<")
	c.bw.WriteString(rcpt)
	c.bw.WriteString(">\r\nDATA\r\n")
	return rset
}

// envelopeReplies reads the replies to what writeEnvelope wrote. It is ok
// when DATA got 354; otherwise the result is that of the first command
// refused (RFC 2920 §3.2: each reply is read, in order).
func (c *client) envelopeReplies(rset bool) (result, bool) {
	if rset {
		r, err := c.read()
		if err != nil {
			return classify(err), false
		}
		if r.code != 250 {
			res := classify(r.err())
			res.network, res.permanent = true, false // a relay that refuses RSET is not talked to further
			return res, false
		}
	}
	var rs [3]reply
	for i := range rs {
		r, err := c.read()
		if err != nil {
			return classify(err), false
		}
		rs[i] = r
	}
	mail, rcpt, data := rs[0], rs[1], rs[2]
	var res result
	switch {
	case mail.code != 250:
		res = classify(mail.err())
	case rcpt.code != 250 && rcpt.code != 251:
		res = classify(rcpt.err())
	case data.code != 354:
		res = classify(data.err())
	default:
		return result{}, true
	}
	c.open = mail.code == 250
	if data.code == 354 {
		// DATA accepted although a command before it was refused (RFC
		// 2920 §3.1 asks the relay not to): an empty message ends it,
		// which the relay must refuse for want of a recipient.
		c.bw.WriteString(".\r\n")
		if c.flush() == nil {
			c.read()
		}
		res.network = true // do not trust this session further
	}
	return res, false
}

// envelopeLockstep is writeEnvelope and envelopeReplies for a relay that
// does not pipeline: each command waits for its reply.
func (c *client) envelopeLockstep(mail, rcpt string) (result, bool) {
	if c.open {
		r, err := c.cmd("RSET")
		if err != nil {
			return classify(err), false
		}
		if r.code != 250 {
			res := classify(r.err())
			res.network, res.permanent = true, false
			return res, false
		}
		c.open = false
	}
	r, err := c.cmd(mail)
	if err != nil {
		return classify(err), false
	}
	if r.code != 250 {
		return classify(r.err()), false
	}
	c.open = true
	for _, cmd := range []string{"RCPT TO:<" + rcpt + ">", "DATA"} {
		r, err := c.cmd(cmd)
		if err != nil {
			return classify(err), false
		}
		if cmd == "DATA" && r.code == 354 {
			c.open = false
			return result{}, true
		}
		if r.code != 250 && r.code != 251 {
			return classify(r.err()), false
		}
	}
	return result{reply: "unexpected reply to DATA", network: true}, false
}

// writeContent writes the message, parts one after the other, as DATA
// wants it (RFC 5321 §4.5.2): a line that starts with a dot gets another,
// a bare LF becomes CRLF (as go-smtp's and net/textproto's dot-writers
// do), a final CRLF is added when missing, then the line with one dot.
// Nothing is flushed.
func (c *client) writeContent(parts ...[]byte) {
	bol, cr := true, false // at the beginning of a line; the last byte was CR
	for _, p := range parts {
		// What needs no change is written in one piece: a line is cut
		// only before a dot that starts it and before a bare LF.
		run := 0 // p[run:i] is not written yet
		for i := 0; i < len(p); {
			if bol && p[i] == '.' {
				c.bw.Write(p[run:i])
				c.bw.WriteByte('.')
				run = i
			}
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 { // no LF: the rest of this part
				cr, bol = p[len(p)-1] == '\r', false
				break
			}
			if j += i; j > i {
				cr = p[j-1] == '\r'
			}
			if !cr {
				c.bw.Write(p[run:j])
				c.bw.WriteByte('\r')
				run = j
			}
			i = j + 1
			bol, cr = true, false
		}
		c.bw.Write(p[run:])
	}
	if !bol {
		if cr {
			c.bw.WriteByte('\n')
		} else {
			c.bw.WriteString("\r\n")
		}
	}
	c.bw.WriteString(".\r\n")
}

// final reads the reply to a message's content.
func (c *client) final() result {
	r, err := c.read()
	if err != nil {
		return classify(err)
	}
	if r.code != 250 {
		return classify(r.err())
	}
	return result{sent: true, reply: "250 " + r.text}
}
