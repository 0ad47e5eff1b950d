// Package freeport finds a TCP port on 127.0.0.1 for a process that a test
// starts and that binds it later (relais serve, smtp-sink, PostgreSQL).
//
// A port from the kernel's ephemeral range, free when looked at, can be
// given to any outgoing connection of the tests running in parallel before
// the child binds it; CI saw "bind: address already in use" that way. So
// the port is taken below that range, where the kernel gives no
// connection a port of its own accord.
package freeport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the lowest port handed out.
const lowest = 10000

// Addr returns "127.0.0.1:PORT" where nothing listens now.
func Addr() (string, error) {
	low := 32768 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low-lowest >= 2000 {
		for range 200 {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lowest+rand.IntN(low-lowest)))
			if l, err := net.Listen("tcp", addr); err == nil {
				l.Close()
				return addr, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Port is Addr's port.
func Port() (int, error) {
	a, err := Addr()
	if err != nil {
		return 0, err
	}
	_, p, _ := net.SplitHostPort(a)
	return strconv.Atoi(p)
}
