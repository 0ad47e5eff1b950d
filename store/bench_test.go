package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkWrite measures durable commits of a 4 KB message and one routing
// row, one writer at a time and many at once (group commit).
func BenchmarkWrite(b *testing.B) {
	for _, writers := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			body := make([]byte, 4096)
			rand.Read(body)
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / writers
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < per; i++ {
						id := fmt.Sprintf("w%d-%d", w, i)
						err := db.Write(ctx, func(tx *Tx) error {
							if _, err := tx.Exec("message.insert", id, 0, "a@b", "", "", false, false, len(body), body); err != nil {
								return err
							}
							_, err := tx.Exec("inbound.insert", id, "x@y", "group", "1", 0, "pending")
							return err
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				}(w)
			}
			wg.Wait()
			b.ReportMetric(float64(per*writers)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
