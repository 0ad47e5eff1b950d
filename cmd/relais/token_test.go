package main

import (
	"encoding/json"
	"os"
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
	if out := relais(t, "audit", "--actor", "o@exemple.fr", "--csv", "--data", data); out != "id,at,actor,via,from,action,target,detail\n2,2023-11-14T22:13:20Z,o@exemple.fr,web,127.0.0.1,member.remove,4405.discussion,x@example.org: à sa demande\n" {
		t.Fatalf("audit --csv:\n%s", out)
	}
	if out := relais(t, "audit", "--target", "4405.autre", "--json", "--data", data); strings.TrimSpace(out) != "[]" {
		t.Fatalf("audit --target: %s", out)
	}
}

// What an operator changes from the command line is in the audit log too,
// as done by operator@HOSTNAME (or the sudo user) from the command line.
func TestCLIChangesAreAudited(t *testing.T) {
	data := t.TempDir()
	relais(t, "group", "add", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "camille@exemple.fr", "--data", data)
	relais(t, "group", "update", "4405.nantes-sud", "--name", "Nantes Sud", "--animator", "karim@exemple.fr", "--data", data)
	relais(t, "list", "create", "4405.discussion", "--policy", "members", "--owner", "o@exemple.fr", "--data", data)
	relais(t, "list", "update", "4405.discussion", "--policy", "moderated", "--data", data)
	relais(t, "list", "subscribe", "4405.discussion", "a@example.org", "--consent", "formulaire papier du 3 mai", "--data", data)
	relais(t, "list", "remove", "4405.discussion", "a@example.org", "--reason", "au téléphone", "--data", data)
	relais(t, "list", "delete", "4405.discussion", "--delete-archive", "--data", data)
	relais(t, "group", "remove", "4405.nantes-sud", "--data", data)
	var es []struct{ Actor, Via, Action, Target, Detail string }
	if err := json.Unmarshal([]byte(relais(t, "audit", "--json", "--data", data)), &es); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(es) - 1; i >= 0; i-- { // oldest first
		e := es[i]
		if e.Via != "cli" || !strings.HasPrefix(e.Actor, "operator@") && os.Getenv("SUDO_USER") == "" {
			t.Errorf("entry %+v: not by the command line's operator", e)
		}
		got = append(got, e.Action+" "+e.Target+" "+e.Detail)
	}
	want := []string{
		"group.create 4405.nantes-sud camille@exemple.fr",
		"group.update 4405.nantes-sud karim@exemple.fr",
		"list.create 4405.discussion members",
		"list.settings 4405.discussion ",
		"member.add 4405.discussion a@example.org: formulaire papier du 3 mai",
		"member.remove 4405.discussion a@example.org: au téléphone",
		"list.delete 4405.discussion ",
		"group.remove 4405.nantes-sud ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
