package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/dkim"
	"codeberg.org/relais/relais/zone"
)

const dkimDoc = `Manage the DKIM keys that sign what the hub sends (RSA-2048 and Ed25519:
every message carries both signatures). Keys are files DOMAIN/SELECTOR.pem
(mode 0600) under dkim.keys_dir (default DATA_DIR/dkim).

  relais dkim keygen [--domain D]   a new pair of keys for each domain (or D).
                                    The first pair of a domain signs at once;
                                    a later one waits for activate.
  relais dkim list                  every key, active or waiting, and what
                                    makes the RSA signatures (dkim.rsa: OpenSSL's
                                    libcrypto.so.3 when present, else Go)
  relais dkim activate --domain D SELECTOR…
                                    sign D's mail with these keys from now on

Rotation: keygen, publish the new records (relais dns), wait for the DNS
(a day), activate, and remove the old .pem files a week later.`

func runDKIM(args []string) error {
	sub, args, ok := subcommand(args, "dkim keygen|list|activate …", dkimDoc)
	if !ok {
		return nil
	}
	fs := newFlags("dkim "+sub, "…", dkimDoc)
	var d dataFlags
	d.add(fs)
	var domains list
	fs.Var(&domains, "domain", "domain (repeatable; default: the configured domains)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := d.load()
	if err != nil {
		return err
	}
	dir := keysDir(c)
	if len(domains) == 0 {
		domains = c.Domains
	}
	switch sub {
	case "keygen":
		if len(domains) == 0 {
			return usagef("dkim keygen: no domain configured; give --domain")
		}
		for _, dom := range domains {
			keys, err := dkim.Generate(dir, dom, time.Now())
			if err != nil {
				return err
			}
			for _, k := range keys {
				state := "waiting (relais dkim activate --domain " + k.Domain + " " + keys[0].Selector + " " + keys[1].Selector + ")"
				if k.Active {
					state = "active"
				}
				fmt.Printf("%s %s %s: %s\n", k.Domain, k.Selector, k.Algo, state)
			}
		}
		fmt.Println("Publish the records printed by `relais dns`.")
	case "list":
		keys, err := dkim.Keys(dir)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "DOMAIN\tSELECTOR\tALGORITHM\tSTATE\tCREATED")
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
		fmt.Println("RSA signatures made by:", rsaEngine(c))
		return nil
	case "activate":
		if len(domains) != 1 || len(pos) == 0 {
			return usagef("dkim activate takes --domain D and the selectors to sign with")
		}
		if err := dkim.Activate(dir, domains[0], pos...); err != nil {
			return err
		}
		fmt.Printf("%s: signing with %v (a running hub notices within 10 s)\n", domains[0], pos)
	default:
		return usagef("dkim: unknown subcommand %q (keygen, list, activate)", sub)
	}
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
	var d dataFlags
	d.add(fs)
	var domains list
	fs.Var(&domains, "domain", "domain (repeatable; default: the configured domains)")
	mx := fs.String("mx", "", "host receiving the domains' mail (default: the hostname)")
	spf := fs.String("spf", "mx", `SPF mechanisms naming the relay that sends for the hub, e.g. "ip4:203.0.113.7 include:_spf.relay.example"`)
	policy := fs.String("policy", "quarantine", "DMARC policy: none, quarantine or reject")
	if _, err := parse(fs, args); err != nil {
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
		return usagef("dns: no domain configured; give --domain")
	}
	switch *policy {
	case "none", "quarantine", "reject":
	default:
		return usagef("dns: --policy none, quarantine or reject")
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
			fmt.Println()
		}
		if err := zone.Write(os.Stdout, zone.Plan{Domain: dom, MX: *mx, SPF: *spf, Policy: *policy, Keys: keys}); err != nil {
			return err
		}
	}
	return nil
}
