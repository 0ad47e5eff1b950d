package main

import (
	"codeberg.org/relais/relais/dkim"

	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time (-ldflags "-X main.version=1.2.0"); else
// the module version and VCS revision Go recorded are shown.
var version = ""

type buildInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// RSA is what makes the RSA DKIM signatures when dkim.rsa is auto:
	// OpenSSL's libcrypto.so.3 when it loads, else Go's crypto/rsa.
	RSA string `json:"rsa"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, RSA: dkim.RSAEngine()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	return b
}

func runVersion(args []string) error {
	fs := newFlags("version", "[--json]", "Print the version of this binary: its release (or (devel)), the commit it\nwas built from, the Go version and the platform.")
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	b := readBuildInfo()
	if *asJSON {
		return printJSON(b)
	}
	line := "relais " + b.Version
	if b.Revision != "" {
		line += " commit " + b.Revision[:min(12, len(b.Revision))]
		if b.Modified {
			line += "+changes"
		}
	}
	_, err := fmt.Fprintf(stdout, "%s %s %s\nRSA signatures: %s\n", line, b.Go, b.Platform, b.RSA)
	return err
}
