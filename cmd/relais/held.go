package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"codeberg.org/relais/relais/internal/mailview"
	"codeberg.org/relais/relais/lists"
)

var heldFamily = family{name: "held", doc: `Posts held for moderation (the moderators also decide by replying to the notice
they get). Approving sends the post to the list; rejecting tells the poster,
when their From is proven.`, subs: []sub{
	{"list", "[--list CODE.NAME] [--all] [--json]", "posts waiting for a decision", heldList},
	{"show", "N [--raw]", "held post N, decoded", heldShow},
	{"approve", "N", "send held post N to its list", heldApprove},
	{"reject", "N [--reason TEXT]", "drop held post N; the poster is told, with the reason", heldReject},
}}

func heldNumber(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, usagef("%q is not a held post number", s)
	}
	return n, nil
}

func heldList(args []string) error {
	fs := newFlags("held list", "[--list CODE.NAME] [--all] [--json]", "Posts waiting for a moderator, oldest first, with why each is held; --all shows\nthose decided or expired too.")
	data := addData(fs)
	list := fs.String("list", "", "only the posts of this list")
	all := fs.Bool("all", false, "also the posts already approved, rejected or expired")
	asJSON := addJSON(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	var listID int64
	if *list != "" {
		l, err := lists.Find(ctx, db, *list)
		if err != nil {
			return err
		}
		listID = l.ID
	}
	state := "held"
	if *all {
		state = ""
	}
	hs, err := lists.HeldPosts(ctx, db, listID, state)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(hs)
	}
	w := newTable("N\tLIST\tSTATE\tHELD\tEXPIRES\tREASON\tPOSTER\tSUBJECT")
	for _, h := range hs {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.List, h.State, h.HeldAt.Local().Format("2006-01-02 15:04"),
			h.Expires.Local().Format("2006-01-02"), cell(h.Reason), cell(h.Poster), cell(h.Subject))
	}
	return w.Flush()
}

func heldShow(args []string) error {
	fs := newFlags("held show", "N [--raw]", "Held post N: why it is held, then the post decoded (--raw: as it came, bytes).")
	data := addData(fs)
	raw := fs.Bool("raw", false, "print the post as it came, bytes")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	n, err := heldNumber(pos[0])
	if err != nil {
		return err
	}
	db, _, err := data.openRead()
	if err != nil {
		return err
	}
	defer db.Close()
	h, err := lists.HeldPost(context.Background(), db, n)
	if err != nil {
		return heldErr(n, err)
	}
	if *raw {
		_, err := stdout.Write(h.Raw)
		return err
	}
	fmt.Fprintf(stdout, "Held post %d · %s · %s\nReason:  %s\nPoster:  %s\nHeld:    %s (expires %s)\n",
		h.ID, h.List, h.State, cell(h.Reason), cell(h.Poster), h.HeldAt.Local().Format("2006-01-02 15:04"), h.Expires.Local().Format("2006-01-02 15:04"))
	if h.DecidedBy != "" {
		fmt.Fprintf(stdout, "By:      %s\n", cell(h.DecidedBy))
	}
	fmt.Fprintln(stdout)
	return mailview.Write(stdout, h.Raw)
}

func heldErr(n int64, err error) error {
	if errors.Is(err, lists.ErrNotFound) {
		return fmt.Errorf("no held post %d", n)
	}
	return err
}

func heldApprove(args []string) error { return heldDecide("approve", args) }
func heldReject(args []string) error  { return heldDecide("reject", args) }

func heldDecide(verb string, args []string) error {
	doc := "Send held post N to its list, as a moderator's approval by mail does (a running hub\nsends it within 10 s)."
	usage := "N"
	if verb == "reject" {
		doc = "Drop held post N. The poster is told, with --reason, in the list's language (only\nwhen their From is proven, as for a moderator's rejection by mail)."
		usage = "N [--reason TEXT]"
	}
	fs := newFlags("held "+verb, usage, doc)
	data := addData(fs)
	var reason *string
	if verb == "reject" {
		reason = fs.String("reason", "", "why, told to the poster")
	}
	by := fs.String("by", "", "who decides, recorded with the decision (default: operator@HOSTNAME)")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	n, err := heldNumber(pos[0])
	if err != nil {
		return err
	}
	c, err := data.load()
	if err != nil {
		return err
	}
	if err := requireData(c); err != nil {
		return err
	}
	h, err := openHub(c, false)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	a := cliActor(c.Hostname)
	if *by != "" {
		a.Who = *by
	}
	why := ""
	if reason != nil {
		why = *reason
	}
	if err := h.Lists.Moderate(context.Background(), n, lists.Decision{Approve: verb == "approve", Why: why}, a); err != nil {
		return heldErr(n, err)
	}
	fmt.Fprintf(stdout, "held post %d: %s\n", n, map[string]string{"approve": "approved", "reject": "rejected"}[verb])
	return nil
}
