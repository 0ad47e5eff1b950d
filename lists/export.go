package lists

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"time"

	"codeberg.org/relais/relais/store"
)

// Export writes a list's archive as an mbox file (the mboxrd variant:
// "From " lines in bodies are quoted with one more '>', which readers
// remove), oldest post first, with LF line ends as mbox readers expect. It
// returns how many posts it wrote.
func Export(ctx context.Context, db *store.DB, listID int64, w io.Writer) (int, error) {
	rows, err := db.Query(ctx, "post.since", listID, 0)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	bw := bufio.NewWriter(w)
	n := 0
	for rows.Next() {
		var id, at int64
		var poster, subject string
		var body []byte
		if err := rows.Scan(&id, &poster, &subject, &at, &body); err != nil {
			return n, err
		}
		if poster == "" {
			poster = "MAILER-DAEMON"
		}
		// The separator line: "From " sender asctime date.
		bw.WriteString("From " + poster + " " + time.Unix(at, 0).UTC().Format(time.ANSIC) + "\n")
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
		for _, line := range bytes.SplitAfter(body, []byte("\n")) {
			if isFromLine(line) {
				bw.WriteByte('>')
			}
			bw.Write(line)
		}
		if !bytes.HasSuffix(body, []byte("\n")) {
			bw.WriteByte('\n')
		}
		bw.WriteByte('\n')
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// isFromLine matches ^>*From : the lines mboxrd quotes.
func isFromLine(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From "))
}
