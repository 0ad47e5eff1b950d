package main

import (
	"context"
	"fmt"

	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/doctor"
	"codeberg.org/relais/relais/mailauth"
	"codeberg.org/relais/relais/zone"
)

func runDoctor(args []string) error {
	fs := newFlags("doctor", "[--domain D] [--mx HOST] [--spf MECHANISMS] [--json]",
		"Check what the hub needs to be received and trusted, and say how to fix each thing:\n"+
			"the DNS records published for each domain (MX, SPF, DKIM selectors, DMARC, TLS-RPT)\n"+
			"against those `relais dns` prints (give it the same --mx and --spf), the relay (it\n"+
			"answers, and is not the hub), the TLS certificate (it covers the hub's names and is\n"+
			"not near its end), and web.base_url (https). DNS questions go to auth.dns_server, or\n"+
			"the system's resolver. Exit status 1 when something is wrong.")
	data := addData(fs)
	var domains multi
	fs.Var(&domains, "domain", "domain (repeatable; default: the configured domains)")
	mx := fs.String("mx", "", "host receiving the domains' mail (default: the hostname)")
	spf := fs.String("spf", "mx", "SPF mechanisms naming the relay that sends for the hub, as given to relais dns")
	policy := fs.String("policy", "quarantine", "DMARC policy, as given to relais dns")
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := data.load()
	if err != nil {
		return err
	}
	if len(domains) == 0 {
		domains = c.Domains
	}
	if len(domains) == 0 {
		return usagef("no domain configured; give --domain")
	}
	if *mx == "" {
		*mx = c.Hostname
	}
	all, err := dkim.Keys(keysDir(c))
	if err != nil {
		return err
	}
	d := &doctor.Doctor{DNS: doctorResolver(c.Auth.DNSServer)}
	ctx := context.Background()
	var findings []doctor.Finding
	for i, dom := range domains {
		var keys []dkim.Key
		for _, k := range all {
			if k.Domain == dom {
				keys = append(keys, k)
			}
		}
		s := doctor.Setup{Plan: zone.Plan{Domain: dom, MX: *mx, SPF: *spf, Policy: *policy, Keys: keys}, Hostname: c.Hostname,
			CertFile: c.SMTP.TLSCert, BaseURL: c.Web.BaseURL}
		if i == 0 { // what is not per domain, once
			s.Relay, s.Listens = c.Relay.Address, c.SMTP.Listen
		} else {
			findings = append(findings, dnsOnly(d.Check(ctx, doctor.Setup{Plan: s.Plan}))...)
			continue
		}
		if len(keys) == 0 {
			findings = append(findings, doctor.Finding{Check: "dkim", Severity: doctor.Error,
				Problem: dom + " has no DKIM key: the hub's mail is not signed for it", Fix: "relais dkim keygen --domain " + dom + ", then publish what relais dns prints"})
		}
		findings = append(findings, d.Check(ctx, s)...)
	}
	if *asJSON {
		if findings == nil {
			findings = []doctor.Finding{}
		}
		if err := printJSON(findings); err != nil {
			return err
		}
	} else if len(findings) == 0 {
		fmt.Fprintf(stdout, "no problem found for %v\n", domains)
	} else {
		for _, f := range findings {
			fmt.Fprintln(stdout, f.String())
		}
	}
	for _, f := range findings {
		if f.Severity == doctor.Error {
			return fmt.Errorf("%d problem(s) found, errors among them", len(findings))
		}
	}
	return nil
}

// dnsOnly keeps the DNS findings (the others are the first domain's).
func dnsOnly(fs []doctor.Finding) []doctor.Finding {
	var out []doctor.Finding
	for _, f := range fs {
		switch f.Check {
		case "mx", "spf", "dkim", "dmarc", "tlsrpt":
			out = append(out, f)
		}
	}
	return out
}

// doctorResolver is the hub's one resolver: auth.dns_server, or the
// system's.
func doctorResolver(server string) mailauth.Resolver { return mailauth.NewNetResolver(server) }
