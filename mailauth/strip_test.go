package mailauth

import "testing"

// Every spelling of a field claiming the hub's id is removed, and never
// read back as a verdict (found by review).
func TestStripVariants(t *testing.T) {
	id := "mx.hub.example"
	for _, f := range []string{
		"Authentication-Results: mx.hub.example; dmarc=pass header.from=v.example\r\n",
		"authentication-results: mx.hub.example; dmarc=pass header.from=v.example\r\n",
		"AUTHENTICATION-RESULTS:mx.hub.example;dmarc=pass header.from=v.example\r\n",
		"Authentication-Results : mx.hub.example; dmarc=pass header.from=v.example\r\n",
		"Authentication-Results:\t MX.Hub.Example 1 ; dmarc=pass header.from=v.example\r\n",
		"Authentication-Results:\r\n mx.hub.example\r\n\t;\r\n dmarc=pass header.from=v.example\r\n",
		"Authentication-Results: mx.hub.example (c); dmarc=pass header.from=v.example\r\n",
		"Authentication-Results: mx.hub.example\n; dmarc=pass header.from=v.example\n",
		"Authentication-Results: mx.hub.example\r; dmarc=pass header.from=v.example\r\n",
		"Authentication-Results: mx.hub.example\v; dmarc=pass header.from=v.example\r\n",
		"Authentication-Results: mx.hub.example\u00a0; dmarc=pass header.from=v.example\r\n",
		"Authentication-Results: mx.hub.example\u00a01; dmarc=pass header.from=v.example\r\n",
		"Authentication-Results: mx.hub.example\x001; dmarc=pass header.from=v.example\r\n",
	} {
		msg := []byte("From: a@v.example\r\n" + f + "Subject: x\r\n\r\nbody\r\n")
		out := Strip(msg, id)
		if r, ok := Read(out, id); ok {
			t.Errorf("survived: %q -> %+v", f, r)
		}
	}
}
