// Package outbox is in charge of a small real SMTP server that captures what
// it receives instead of delivering it: the demo's relay, so a new user sees
// what the hub sends, and the recording relay of the tests.
//
// It acts as the final delivery agent: each recipient gets its own copy with
// Return-Path and Delivered-To prepended (RFC 5321 §4.4), kept in memory
// and, when a directory is given, written there as NNNNNN.eml (write,
// fsync, rename, fsync the directory, then 250).
//
// It offers DSN (RFC 3461) so that the hub's queue gives each copy its
// envelope id, relais-ID: the copy is then numbered by the hub's delivery
// ID, the number `relais outbox` shows. Mail without one is numbered on
// its own, nNNNNNN.eml.
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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one captured copy.
type Mail struct {
	// Seq is the hub's delivery id when the sender gave it (ENVID
	// relais-ID), else a number of the outbox's own.
	Seq      int
	Delivery bool   // Seq is the hub's delivery id
	From     string // envelope sender, "" for the null sender
	To       string // envelope recipient
	Data     []byte // as received, without the Return-Path and Delivered-To lines
	At       time.Time
	File     string // where it was written, if anywhere
	TLS      bool   // received over STARTTLS
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
		for _, m := range existing {
			if !m.Delivery {
				s.seq = max(s.seq, m.Seq)
			}
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
	s.srv.EnableDSN = true
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
	// Closed before its goroutine reached Serve, go-smtp's server does not
	// know the listener yet: closing it here ends that Serve at once.
	s.ln.Close()
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

func (s *Server) store(from, envid string, to []string, data []byte, tls bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dlv, err := strconv.Atoi(strings.TrimPrefix(envid, "relais-"))
	if !strings.HasPrefix(envid, "relais-") || err != nil || dlv <= 0 || len(to) != 1 {
		dlv = 0 // one delivery is one recipient
	}
	for _, rcpt := range to {
		m := Mail{Seq: dlv, Delivery: dlv > 0, From: from, To: rcpt, Data: data, At: time.Now(), TLS: tls}
		if dlv == 0 {
			s.seq++
			m.Seq = s.seq
		}
		if s.dir != "" {
			f, err := write(s.dir, m)
			if err != nil {
				if dlv == 0 {
					s.seq--
				}
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

// fileName is where m is written in dir.
func fileName(m Mail) string {
	if m.Delivery {
		return fmt.Sprintf("%06d.eml", m.Seq)
	}
	return fmt.Sprintf("n%06d.eml", m.Seq)
}

func write(dir string, m Mail) (string, error) {
	name := filepath.Join(dir, fileName(m))
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
	var out []Mail
	for _, n := range names {
		var m Mail
		base := filepath.Base(n)
		if _, err := fmt.Sscanf(base, "n%06d.eml", &m.Seq); err != nil {
			if _, err := fmt.Sscanf(base, "%06d.eml", &m.Seq); err != nil {
				continue
			}
			m.Delivery = true
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
	sort.Slice(out, func(i, j int) bool {
		if out[i].At.Equal(out[j].At) {
			return out[i].Seq < out[j].Seq
		}
		return out[i].At.Before(out[j].At)
	})
	return out, nil
}

type session struct {
	s     *Server
	tls   bool
	from  string
	envid string
	to    []string
}

func (ss *session) Reset()        { ss.from, ss.envid, ss.to = "", "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	ss.from = from
	if opts != nil {
		ss.envid = opts.EnvelopeID
	}
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
	if err := ss.s.store(ss.from, ss.envid, ss.to, data, ss.tls); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "outbox: cannot write"}
	}
	return nil
}
