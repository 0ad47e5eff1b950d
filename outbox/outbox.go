// Package outbox is in charge of a small real SMTP server that captures what
// it receives instead of delivering it: the demo's relay, so a new user sees
// what the hub sends, and the recording relay of the tests.
//
// It acts as the final delivery agent: each recipient gets its own copy with
// Return-Path and Delivered-To prepended (RFC 5321 §4.4), kept in memory
// and, when a directory is given, written there as NNNNNN.eml (write,
// fsync, rename, fsync the directory, then 250).
package outbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one captured copy.
type Mail struct {
	Seq  int
	From string // envelope sender, "" for the null sender
	To   string // envelope recipient
	Data []byte // as received, without the Return-Path and Delivered-To lines
	At   time.Time
	File string // where it was written, if anywhere
	TLS  bool   // received over STARTTLS
}

// Header returns the parsed header of the captured message.
func (m Mail) Header() textproto.MIMEHeader {
	h, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(m.Data))).ReadMIMEHeader()
	return h
}

// Body returns what follows the header.
func (m Mail) Body() string {
	s := string(m.Data)
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		return s[i+4:]
	}
	return ""
}

// Server is the capturing SMTP server.
type Server struct {
	dir  string
	srv  *smtp.Server
	ln   net.Listener
	done chan struct{}

	// Rcpt, if set, is asked at each RCPT TO; an *smtp.SMTPError it returns
	// is the answer (tests use it to play a failing relay).
	Rcpt func(from, to string) error

	mu      sync.Mutex
	mails   []Mail
	seq     int
	changed chan struct{}
}

// Option changes how Start sets up the server.
type Option func(*smtp.Server)

// WithTLS offers STARTTLS with config.
func WithTLS(config *tls.Config) Option { return func(s *smtp.Server) { s.TLSConfig = config } }

// Start listens on addr ("127.0.0.1:0") and captures into dir ("" for
// memory only).
func Start(addr, dir string, opts ...Option) (*Server, error) {
	s := &Server{dir: dir, done: make(chan struct{}), changed: make(chan struct{})}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		existing, err := Read(dir)
		if err != nil {
			return nil, err
		}
		if n := len(existing); n > 0 {
			s.seq = existing[n-1].Seq
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	s.ln = ln
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, tls := c.TLSConnectionState()
		return &session{s: s, tls: tls}, nil
	}))
	s.srv.Domain = "outbox.relais"
	s.srv.EnableSMTPUTF8 = true
	s.srv.MaxMessageBytes = 64 << 20
	s.srv.ErrorLog = nopLog{}
	for _, o := range opts {
		o(s.srv)
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

// Addr is where the server listens.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// Mails returns what was captured so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Wait returns once at least n copies were captured, or when ctx ends.
func (s *Server) Wait(ctx context.Context, n int) ([]Mail, error) {
	for {
		s.mu.Lock()
		if len(s.mails) >= n {
			out := append([]Mail(nil), s.mails...)
			s.mu.Unlock()
			return out, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Mails(), fmt.Errorf("outbox: %d of %d messages: %w", len(s.Mails()), n, ctx.Err())
		}
	}
}

func (s *Server) store(from string, to []string, data []byte, tls bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rcpt := range to {
		s.seq++
		m := Mail{Seq: s.seq, From: from, To: rcpt, Data: data, At: time.Now(), TLS: tls}
		if s.dir != "" {
			f, err := write(s.dir, m)
			if err != nil {
				s.seq--
				return err
			}
			m.File = f
		}
		s.mails = append(s.mails, m)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

func write(dir string, m Mail) (string, error) {
	name := filepath.Join(dir, fmt.Sprintf("%06d.eml", m.Seq))
	tmp := name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return "", err
	}
	_, err = fmt.Fprintf(f, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", m.From, m.To)
	if err == nil {
		_, err = f.Write(m.Data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("outbox: %w", err)
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Read returns the copies captured in dir, oldest first.
func Read(dir string) ([]Mail, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Mail
	for _, n := range names {
		var m Mail
		if _, err := fmt.Sscanf(filepath.Base(n), "%06d.eml", &m.Seq); err != nil {
			continue
		}
		raw, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		st, _ := os.Stat(n)
		m.File, m.At = n, st.ModTime()
		for i := 0; i < 2; i++ {
			line, rest, _ := bytes.Cut(raw, []byte("\r\n"))
			switch k, v, _ := strings.Cut(string(line), ": "); k {
			case "Return-Path":
				m.From = strings.Trim(v, "<>")
			case "Delivered-To":
				m.To = v
			}
			raw = rest
		}
		m.Data = raw
		out = append(out, m)
	}
	return out, nil
}

type session struct {
	s    *Server
	tls  bool
	from string
	to   []string
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := ss.s.Rcpt; f != nil {
		if err := f(ss.from, to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.s.store(ss.from, ss.to, data, ss.tls); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "outbox: cannot write"}
	}
	return nil
}
