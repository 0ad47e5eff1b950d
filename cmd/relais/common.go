package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"codeberg.org/relais/relais/config"
	"codeberg.org/relais/relais/store"
)

// dataFlags are the flags of every command that touches the data.
type dataFlags struct {
	config string
	data   string
}

func (d *dataFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&d.config, "config", os.Getenv("RELAIS_CONFIG"), "configuration file (TOML); env RELAIS_CONFIG")
	fs.StringVar(&d.data, "data", "", "data directory (default from the config, else ./relais-data)")
}

// load reads the configuration and applies --data.
func (d *dataFlags) load() (config.Config, error) {
	c, err := config.Load(d.config)
	if err != nil {
		return c, err
	}
	if d.data != "" {
		c.DataDir = d.data
	}
	return c, nil
}

// openStore opens the database of the configured data directory.
func (d *dataFlags) openStore() (*store.DB, config.Config, error) {
	c, err := d.load()
	if err != nil {
		return nil, c, err
	}
	db, err := store.Open(c.DataDir)
	return db, c, err
}

func newLogger(c config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// openInput opens a file named on the command line, "-" meaning standard
// input.
func openInput(path string) (*os.File, error) {
	if path == "-" {
		return os.Stdin, nil
	}
	return os.Open(path)
}

// subcommand splits "SUB args…" for a command with subcommands; without a
// subcommand, or asked for help, it prints usage and doc and reports false.
func subcommand(args []string, usage, doc string) (string, []string, bool) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Println("Usage: relais " + usage + "\n\n" + doc)
		return "", nil, false
	}
	return args[0], args[1:], true
}

// parseOpen parses the flags of fs and opens the store of the configured
// data directory.
func (d *dataFlags) parseOpen(fs *flag.FlagSet, args []string) ([]string, *store.DB, config.Config, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, config.Config{}, err
	}
	db, c, err := d.openStore()
	return pos, db, c, err
}
