package templates

// Quoted-printable (RFC 2045 §6.7) in one pass into a slice: the digests
// write 40 KB of it each, byte by byte through mime/quotedprintable's
// Writer (a quarter of what making a digest costs besides its signature).
// appendQP writes exactly what that Writer writes for one Write and its
// Close, which the tests check on many inputs: the same lines, soft breaks
// at the same places, the same bytes encoded.

// qpLineMax is the longest line, its soft break's '=' included (§6.7 (5)).
const qpLineMax = 76

// How each byte is written: as it is, encoded (=XX), or as a line break.
const (
	qpAsIs = iota
	qpEncoded
	qpBreak
)

var qpClass = func() (c [256]uint8) {
	for b := range c {
		switch {
		case b == '\r' || b == '\n':
			c[b] = qpBreak
		case b == ' ' || b == '\t' || b >= '!' && b <= '~' && b != '=':
			c[b] = qpAsIs
		default:
			c[b] = qpEncoded
		}
	}
	return c
}()

const qpHex = "0123456789ABCDEF"

// appendQP appends p in quoted-printable to dst: line breaks (CR, LF or
// CRLF) as CRLF, lines of at most 76 characters with soft breaks, a
// space or tab at a line's end encoded (§6.7 (3)).
func appendQP(dst, p []byte) []byte {
	line := len(dst) // where the line being written starts in dst
	cr := false      // the last line break was a CR: an LF right after it is the same break
	for k := 0; k < len(p); {
		switch b := p[k]; qpClass[b] {
		case qpAsIs:
			j := k + 1
			for j < len(p) && qpClass[p[j]] == qpAsIs {
				j++
			}
			for k < j {
				if len(dst)-line == qpLineMax-1 {
					dst = append(dst, "=\r\n"...)
					line = len(dst)
				}
				n := min(j-k, qpLineMax-1-(len(dst)-line))
				dst = append(dst, p[k:k+n]...)
				k += n
			}
			cr = false
		case qpEncoded:
			dst, line = qpEncode(dst, line, b)
			k++
		default:
			k++
			if cr && b == '\n' {
				cr = false
				continue
			}
			cr = b == '\r'
			dst, line = qpSpaceAtEnd(dst, line)
			dst = append(dst, '\r', '\n')
			line = len(dst)
		}
	}
	dst, _ = qpSpaceAtEnd(dst, line)
	return dst
}

// qpEncode appends b as =XX, after a soft break if the line has no room
// for all three.
func qpEncode(dst []byte, line int, b byte) ([]byte, int) {
	if qpLineMax-1-(len(dst)-line) < 3 {
		dst = append(dst, "=\r\n"...)
		line = len(dst)
	}
	return append(dst, '=', qpHex[b>>4], qpHex[b&0x0f]), line
}

// qpSpaceAtEnd encodes the line's last character if it is a space or a
// tab, before the line ends.
func qpSpaceAtEnd(dst []byte, line int) ([]byte, int) {
	if len(dst) > line {
		if b := dst[len(dst)-1]; b == ' ' || b == '\t' {
			return qpEncode(dst[:len(dst)-1], line, b)
		}
	}
	return dst, line
}
