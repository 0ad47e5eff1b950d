package doctor

import (
	"context"
	"net"
	"strings"
	"testing"
)

// relay.address "localhost:2525" with the hub on 127.0.0.1:2525: serve
// refuses to start (the system's resolver reads /etc/hosts), but the
// doctor asks the mail DNS (auth.dns_server), which may not know
// "localhost", takes that as "cannot tell", then dials through the
// system's resolver, reaches the hub's own greeting, and reports nothing.
// What the dial reached is what counts.
func TestReview2DoctorFindsARelayThatIsTheHubByWhatItReached(t *testing.T) {
	d, s, _ := setup(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("220 mx.hub.example relais, service de messagerie des groupes / group mail service\r\n"))
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s.Relay, s.Listens = "localhost:"+port, []string{ln.Addr().String()}
	d.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, strings.Replace(addr, "localhost", "127.0.0.1", 1)) // /etc/hosts
	}
	for _, f := range d.Check(context.Background(), s) {
		if f.Check == "relay" {
			return
		}
	}
	t.Fatal("the relay is the hub itself, and the doctor says nothing")
}
