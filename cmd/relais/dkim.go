package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/zone"
)

var dkimFamily = family{name: "dkim", doc: `The DKIM keys that sign what the hub sends (RSA-2048 and Ed25519: every message
carries both signatures). Keys are files DOMAIN/SELECTOR.pem (mode 0600) under
dkim.keys_dir (default DATA_DIR/dkim).

Rotation: keygen, publish the new records (relais dns), wait for the DNS (a day),
activate, and remove the old .pem files a week later.`, subs: []sub{
	{"keygen", "[--domain D]", "a new pair of keys for each domain (the first signs at once, a later one waits for activate)", dkimKeygen},
	{"list", "", "every key, active or waiting, and what makes the RSA signatures (dkim.rsa)", dkimList},
	{"activate", "--domain D SELECTOR…", "sign D's mail with these keys from now on (a running hub notices within 10 s)", dkimActivate},
}}

func dkimKeygen(args []string) error {
	fs := newFlags("dkim keygen", "[--domain D]", "Make a new pair of keys (RSA-2048 and Ed25519) for each domain, or D. The first pair of\na domain signs at once; a later one waits for `relais dkim activate`.")
	data := addData(fs)
	var domains multi
	fs.Var(&domains, "domain", "domain (repeatable; default: the configured domains)")
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
	for _, dom := range domains {
		keys, err := dkim.Generate(keysDir(c), dom, time.Now())
		if err != nil {
			return err
		}
		for _, k := range keys {
			state := "waiting (relais dkim activate --domain " + k.Domain + " " + keys[0].Selector + " " + keys[1].Selector + ")"
			if k.Active {
				state = "active"
			}
			fmt.Fprintf(stdout, "%s %s %s: %s\n", k.Domain, k.Selector, k.Algo, state)
		}
	}
	fmt.Fprintln(stdout, "Publish the records printed by `relais dns`.")
	return nil
}

type keyJSON struct {
	Domain    string    `json:"domain"`
	Selector  string    `json:"selector"`
	Algorithm string    `json:"algorithm"`
	Active    bool      `json:"active"`
	Created   time.Time `json:"created"`
}

func dkimList(args []string) error {
	fs := newFlags("dkim list", "[--json]", "Every DKIM key, active (signing) or waiting.")
	data := addData(fs)
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := data.load()
	if err != nil {
		return err
	}
	keys, err := dkim.Keys(keysDir(c))
	if err != nil {
		return err
	}
	if *asJSON {
		out := []keyJSON{}
		for _, k := range keys {
			out = append(out, keyJSON{k.Domain, k.Selector, k.Algo, k.Active, k.Created})
		}
		return printJSON(out)
	}
	w := newTable("DOMAIN\tSELECTOR\tALGORITHM\tSTATE\tCREATED")
	for _, k := range keys {
		state := "waiting"
		if k.Active {
			state = "active"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.Domain, k.Selector, k.Algo, state, k.Created.Format("2006-01-02 15:04"))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "RSA signatures made by:", rsaEngine(c))
	return nil
}

// rsaEngine says what makes the RSA signatures under c (dkim.rsa).
func rsaEngine(c config.Config) string {
	switch c.DKIM.RSA {
	case dkim.EngineGo:
		return "Go crypto/rsa (dkim.rsa = go)"
	case dkim.EngineOpenSSL:
		return dkim.RSAEngine() + " (dkim.rsa = openssl: serve refuses to start without libcrypto)"
	}
	return dkim.RSAEngine()
}

func dkimActivate(args []string) error {
	fs := newFlags("dkim activate", "--domain D SELECTOR…", "Sign D's mail with these keys from now on (a running hub notices within 10 s).\nPublish their records first (relais dns).")
	data := addData(fs)
	domain := fs.String("domain", "", "the domain")
	pos, err := parseArgs(fs, args, 1, -1)
	if err != nil {
		return err
	}
	if *domain == "" {
		return usagef("--domain D is needed")
	}
	c, err := data.load()
	if err != nil {
		return err
	}
	if err := dkim.Activate(keysDir(c), *domain, pos...); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: signing with %v (a running hub notices within 10 s)\n", *domain, pos)
	return nil
}

func keysDir(c config.Config) string {
	if c.DKIM.KeysDir != "" {
		return c.DKIM.KeysDir
	}
	return filepath.Join(c.DataDir, "dkim")
}

const dnsDoc = `Print the DNS records to publish for each of the hub's domains, in
zone-file form: MX, SPF, the DKIM keys (active and waiting), DMARC
(p=quarantine suggested, aggregate reports to postmaster@) and TLS-RPT.`

func runDNS(args []string) error {
	fs := newFlags("dns", "[--domain D] [--mx HOST] [--spf MECHANISMS] [--policy P]", dnsDoc)
	d := addData(fs)
	var domains multi
	fs.Var(&domains, "domain", "domain (repeatable; default: the configured domains)")
	mx := fs.String("mx", "", "host receiving the domains' mail (default: the hostname)")
	spf := fs.String("spf", "mx", `SPF mechanisms naming the relay that sends for the hub, e.g. "ip4:203.0.113.7 include:_spf.relay.example"`)
	policy := fs.String("policy", "quarantine", "DMARC policy: none, quarantine or reject")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := d.load()
	if err != nil {
		return err
	}
	if len(domains) == 0 {
		domains = c.Domains
	}
	if len(domains) == 0 {
		return usagef("no domain configured; give --domain")
	}
	switch *policy {
	case "none", "quarantine", "reject":
	default:
		return usagef("--policy none, quarantine or reject")
	}
	if *mx == "" {
		*mx = c.Hostname
	}
	all, err := dkim.Keys(keysDir(c))
	if err != nil {
		return err
	}
	for i, dom := range domains {
		var keys []dkim.Key
		for _, k := range all {
			if k.Domain == dom {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			fmt.Fprintf(os.Stderr, "relais dns: %s has no DKIM key yet: run relais dkim keygen\n", dom)
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if err := zone.Write(stdout, zone.Plan{Domain: dom, MX: *mx, SPF: *spf, Policy: *policy, Keys: keys}); err != nil {
			return err
		}
	}
	return nil
}
