package lists

// Problem says why a message cannot go to a list as it is ("header",
// "8bit-header", "no-from", "mime"), or "": what posting checks first,
// reading every MIME part. It is exported for the cost tests of the
// inbound path.
func Problem(raw []byte, smtputf8 bool) string { return problem(raw, smtputf8) }
