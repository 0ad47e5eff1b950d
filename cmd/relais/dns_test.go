package main

import (
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is a DNS server on 127.0.0.1 for the hubs the tests run: it
// answers from its maps, and NXDOMAIN for any other name, at once (the
// hub's one resolver asks it through auth.dns_server).
type dnsServer struct {
	addr string
	pc   net.PacketConn
	mu   sync.Mutex
	txt  map[string][]string
	mx   map[string][]string
	a    map[string][]string
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{addr: pc.LocalAddr().String(), pc: pc, txt: map[string][]string{}, mx: map[string][]string{}, a: map[string][]string{}}
	t.Cleanup(func() { pc.Close() })
	go s.serve()
	return s
}

func canonName(n string) string { return strings.ToLower(strings.TrimSuffix(n, ".")) }

// TXT sets the TXT records of name (none: the name has none).
func (s *dnsServer) TXT(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[canonName(name)] = values
}

// MX sets the MX hosts of name.
func (s *dnsServer) MX(name string, hosts ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mx[canonName(name)] = hosts
}

func (s *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		name := canonName(q.Name.String())
		s.mu.Lock()
		txt, hasTXT := s.txt[name]
		mx, hasMX := s.mx[name]
		s.mu.Unlock()
		rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
		if !hasTXT && !hasMX {
			rh.RCode = dnsmessage.RCodeNameError
		}
		b := dnsmessage.NewBuilder(nil, rh)
		b.EnableCompression()
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		rr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch q.Type {
		case dnsmessage.TypeTXT:
			for _, v := range txt {
				var parts []string
				for len(v) > 255 {
					parts, v = append(parts, v[:255]), v[255:]
				}
				b.TXTResource(rr, dnsmessage.TXTResource{TXT: append(parts, v)})
			}
		case dnsmessage.TypeMX:
			for _, m := range mx {
				b.MXResource(rr, dnsmessage.MXResource{Pref: 10, MX: dnsmessage.MustNewName(canonName(m) + ".")})
			}
		}
		out, err := b.Finish()
		if err == nil {
			s.pc.WriteTo(out, from)
		}
	}
}
