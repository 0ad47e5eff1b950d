package freeport

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The port is free, and below the ephemeral range where there is one.
func TestAddrBelowEphemeralRange(t *testing.T) {
	low := 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		low, _ = strconv.Atoi(strings.Fields(string(b))[0])
	}
	for range 20 {
		a, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		_, p, _ := net.SplitHostPort(a)
		n, _ := strconv.Atoi(p)
		if low-lowest >= 2000 && (n < lowest || n >= low) {
			t.Fatalf("port %d, want %d to %d", n, lowest, low-1)
		}
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s not free: %v", a, err)
		}
		l.Close()
	}
}
