package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// relais token create|list|revoke, and relais audit reading what the
// hub recorded.
func TestCLITokensAndAudit(t *testing.T) {
	data := t.TempDir()
	relais(t, "list", "create", "4405.discussion", "--policy", "members", "--owner", "o@exemple.fr", "--data", data)
	out := relais(t, "token", "create", "--name", "plateforme", "--scope", "groups,lists", "--json", "--data", data)
	var made struct {
		Name, Token string
		Scopes      []string
	}
	if err := json.Unmarshal([]byte(out), &made); err != nil || made.Name != "plateforme" || !strings.HasPrefix(made.Token, "relais_") ||
		strings.Join(made.Scopes, ",") != "groups,lists" {
		t.Fatalf("token create: %v %s", err, out)
	}
	if out := relais(t, "token", "list", "--data", data); !strings.Contains(out, "plateforme  groups,lists") || strings.Contains(out, made.Token) {
		t.Fatalf("token list:\n%s", out)
	}
	expect(t, "", "relais token create: a token of that name exists: plateforme\n", 1, "token", "create", "--name", "plateforme", "--scope", "all", "--data", data)
	expect(t, "", "relais token create: scope \"everything\": one of groups, lists, members, events, held, tickets, or all\n", 2,
		"token", "create", "--name", "x", "--scope", "everything", "--data", data)
	expect(t, "token plateforme revoked\n", "", 0, "token", "revoke", "plateforme", "--data", data)
	expect(t, "", "relais token revoke: no live token named \"plateforme\"\n", 1, "token", "revoke", "plateforme", "--data", data)
	sqlExec(t, data, `INSERT INTO audit (at, actor, via, origin, action, target, detail) VALUES (1700000000, 'o@exemple.fr', 'web', '127.0.0.1', 'member.remove', '4405.discussion', 'x@example.org: à sa demande')`)
	if out := relais(t, "audit", "--csv", "--data", data); out != "id,at,actor,via,from,action,target,detail\n1,2023-11-14T22:13:20Z,o@exemple.fr,web,127.0.0.1,member.remove,4405.discussion,x@example.org: à sa demande\n" {
		t.Fatalf("audit --csv:\n%s", out)
	}
	if out := relais(t, "audit", "--target", "4405.autre", "--json", "--data", data); strings.TrimSpace(out) != "[]" {
		t.Fatalf("audit --target: %s", out)
	}
}
