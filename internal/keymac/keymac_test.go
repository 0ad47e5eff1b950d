package keymac

import (
	"crypto/hmac"
	"crypto/sha256"
	"sync"
	"testing"
)

// A pooled state gives what a new HMAC gives, call after call and from
// several goroutines at once: nothing of one message stays for the next.
func TestSumIsHMAC(t *testing.T) {
	key := []byte("secret of this hub")
	var p Pool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				msg := make([]byte, (i*7+w)%300)
				for j := range msg {
					msg[j] = byte(i + j + w)
				}
				m := hmac.New(sha256.New, key)
				m.Write(msg)
				if got := p.Sum(key, msg); !hmac.Equal(got[:], m.Sum(nil)) {
					t.Errorf("message %d of %d bytes: %x", i, len(msg), got)
					return
				}
			}
		})
	}
	wg.Wait()
}
