package hub

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkIntake measures durable intake through the real listener: each
// message is a whole SMTP session (connect, EHLO, MAIL, RCPT, DATA, QUIT) of
// 4 KB to a group with one animator, as smtp-source sends them, while the
// hub delivers to a recording relay. Compare with Postfix with
// bench/intake.sh; this one is for profiling (-cpuprofile).
func BenchmarkIntake(b *testing.B) {
	for _, sessions := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			e := newEnvB(b)
			msg := crlf("From: w@example.org\nTo: 4402.bench@hub.example\nSubject: bench\n\n") + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 50)
			var n atomic.Int64
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			var wg sync.WaitGroup
			for s := 0; s < sessions; s++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n.Add(1) <= int64(b.N) {
						if err := e.send("w@example.org", []string{"4402.bench@hub.example"}, msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}
