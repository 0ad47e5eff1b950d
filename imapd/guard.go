package imapd

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/server"
)

// What a client may send before go-imap v1's parser reads it. That parser
// reads a list by recursion (a line of a few megabytes of "(" overflows
// the goroutine's stack: a fatal error that ends the whole hub, SMTP and
// web included), builds an atom one character at a time by string
// concatenation (quadratic: a 256 kB atom took 18 s of CPU), and keeps
// every field of a command in memory. Each connection's bytes are
// scanned on the way in, with the parser's own rules for atoms, lists
// and literals, and a connection that goes beyond these bounds gets a BYE
// and is closed, before anything is parsed. Dovecot bounds a command line
// to 64 kB likewise (imap_max_line_length).
const (
	maxLine    = 64 << 10 // bytes of a line, literals apart
	maxAtom    = 8 << 10  // bytes of one atom (a UID set of a thousand sparse UIDs fits)
	maxDepth   = 32       // lists in lists
	maxCommand = 1 << 20  // bytes of a command, its literals included
	maxLiteral = 64 << 10 // as the server's MaxLiteralSize
)

var errTooLong = errors.New("command too long or too deeply nested")

// scan follows a client's bytes as go-imap's reader will parse them.
type scan struct {
	line, cmd, atom int
	depth, brackets int
	quoted, escaped bool
	fieldStart      bool  // the next byte starts a field: line start, after SP or "("
	lit             int   // 0: no literal marker; 1: in "{…"; 2: after "}"; 3: after "}\r"
	litN            int64 // the marker's length
	litDigits       int
	literal         int64 // bytes of a literal still to pass unscanned
	started         bool
}

func (s *scan) reset() { *s = scan{fieldStart: true, started: true} }

// feed scans b; an error means the client went beyond a bound.
func (s *scan) feed(b []byte) error {
	if !s.started {
		s.reset()
	}
	for i := 0; i < len(b); i++ {
		if s.literal > 0 {
			k := min(int64(len(b)-i), s.literal)
			s.literal -= k
			s.cmd += int(k)
			i += int(k) - 1
			if s.cmd > maxCommand {
				return errTooLong
			}
			continue
		}
		c := b[i]
		s.cmd++
		if s.cmd > maxCommand {
			return errTooLong
		}
		if c == '\n' {
			// go-imap takes "{n}" or "{n+}" at the start of a field, then
			// CRLF or LF, for a literal of n bytes; the command goes on
			// after it.
			literal := s.lit == 2 || s.lit == 3
			n := s.litN
			cmd := s.cmd
			s.reset()
			if literal {
				if n > maxLiteral {
					return errTooLong
				}
				s.literal, s.cmd = n, cmd
			}
			continue
		}
		s.line++
		if s.line > maxLine {
			return errTooLong
		}
		switch s.lit {
		case 1:
			// go-imap reads up to the next "}", whatever comes, line breaks
			// included: only a length may be there.
			switch {
			case c >= '0' && c <= '9' && s.litDigits < 10:
				s.litDigits++
				s.litN = s.litN*10 + int64(c-'0')
			case c == '+' && s.litDigits > 0:
			case c == '}' && s.litDigits > 0:
				s.lit = 2
			default:
				return errTooLong
			}
			continue
		case 2:
			if c == '\r' {
				s.lit = 3
				continue
			}
			s.lit = 0
		case 3:
			s.lit = 0
		}
		if c == '{' && s.fieldStart && s.brackets == 0 && !s.quoted {
			s.lit, s.litN, s.litDigits = 1, 0, 0
			s.fieldStart = false
			continue
		}
		// A quoted string starts a field; inside it go-imap reads on, in
		// linear time, to the closing quote.
		if s.quoted {
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.quoted = false
			}
		} else if c == '"' && s.fieldStart && s.brackets == 0 {
			s.quoted = true
		}
		// Atoms and lists are counted inside quotes too: where go-imap
		// stops at an error in a quoted string, it parses what follows as
		// fields.
		if s.brackets == 0 && (c == ' ' || c == '\r' || c == '(' || c == ')') {
			s.atom = 0
			switch c {
			case '(':
				if s.depth++; s.depth > maxDepth {
					return errTooLong
				}
			case ')':
				s.depth = max(s.depth-1, 0)
			}
		} else {
			// In an atom, "[" opens a section in which spaces and
			// parentheses belong to the atom, up to the line's end.
			switch c {
			case '[':
				s.brackets++
			case ']':
				s.brackets = max(s.brackets-1, 0)
			}
			if s.atom++; s.atom > maxAtom {
				return errTooLong
			}
		}
		s.fieldStart = s.brackets == 0 && !s.quoted && (c == ' ' || c == '(')
	}
	return nil
}

// guardConn is a client's connection as go-imap sees it: plain text, the
// TLS taken care of below it (the implicit TLS port, or STARTTLS, which
// the server does itself), its bytes scanned on the way in.
type guardConn struct {
	mu  sync.Mutex
	c   net.Conn // the client: plain, or TLS
	tls atomic.Bool
	sc  scan
	err error
}

func newGuard(c net.Conn, isTLS bool) *guardConn {
	g := &guardConn{c: c}
	g.tls.Store(isTLS)
	return g
}

func (g *guardConn) conn() net.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.c
}

func (g *guardConn) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	c := g.conn()
	n, err := c.Read(p)
	if n > 0 {
		if e := g.sc.feed(p[:n]); e != nil {
			g.err = e
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte("* BYE " + e.Error() + "\r\n"))
			c.Close()
			return 0, e
		}
	}
	return n, err
}

func (g *guardConn) Write(p []byte) (int, error)        { return g.conn().Write(p) }
func (g *guardConn) Close() error                       { return g.conn().Close() }
func (g *guardConn) LocalAddr() net.Addr                { return g.conn().LocalAddr() }
func (g *guardConn) RemoteAddr() net.Addr               { return guardAddr{Addr: g.conn().RemoteAddr(), g: g} }
func (g *guardConn) SetDeadline(t time.Time) error      { return g.conn().SetDeadline(t) }
func (g *guardConn) SetReadDeadline(t time.Time) error  { return g.conn().SetReadDeadline(t) }
func (g *guardConn) SetWriteDeadline(t time.Time) error { return g.conn().SetWriteDeadline(t) }

// startTLS makes the connection TLS as a server, after STARTTLS: the
// scan starts again on the clear text that follows.
func (g *guardConn) startTLS(cfg *tls.Config) error {
	t := tls.Server(g.conn(), cfg)
	if err := t.Handshake(); err != nil {
		return err
	}
	g.mu.Lock()
	g.c = t
	g.sc.reset()
	g.mu.Unlock()
	g.tls.Store(true)
	return nil
}

// guardAddr is a client's address as the backend gets it: its
// connection's, which says whether TLS protects it.
type guardAddr struct {
	net.Addr
	g *guardConn
}

// secured says whether a sign-in from info is protected by TLS.
func secured(info *imap.ConnInfo) bool {
	if info.TLS != nil {
		return true
	}
	ga, ok := info.RemoteAddr.(guardAddr)
	return ok && ga.g.tls.Load()
}

// guardListener hands go-imap guarded connections.
type guardListener struct {
	net.Listener
	tls bool // the implicit TLS port
}

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newGuard(c, l.tls), nil
}

// startTLSCmd is STARTTLS (RFC 3501 §6.2.1), done by the server below
// go-imap, on the guarded connection.
type startTLSCmd struct{ s *Server }

func (c *startTLSCmd) Parse([]interface{}) error { return nil }

func (c *startTLSCmd) Handle(conn server.Conn) error {
	if conn.Context().State != imap.NotAuthenticatedState {
		return server.ErrAlreadyAuthenticated
	}
	ga, ok := conn.Info().RemoteAddr.(guardAddr)
	switch {
	case c.s.cfg.TLS == nil || !ok:
		return errors.New("TLS support not enabled")
	case ga.g.tls.Load():
		return errors.New("TLS is already enabled")
	}
	return server.ErrStatusResp(&imap.StatusResp{Type: imap.StatusRespOk, Info: "Begin TLS negotiation now"})
}

func (c *startTLSCmd) Upgrade(conn server.Conn) error {
	return conn.Upgrade(func(sock net.Conn) (net.Conn, error) {
		conn.WaitReady()
		g, ok := sock.(*guardConn)
		if !ok {
			return nil, errors.New("imapd: STARTTLS on a connection not guarded")
		}
		if err := g.startTLS(c.s.cfg.TLS); err != nil {
			return nil, err
		}
		return g, nil
	})
}
