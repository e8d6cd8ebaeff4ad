"""``zrc admin:*`` token administration: users, tokens (ids and prefixes, never secrets), revocation, disabling,
expiry and the audit log. Every action is recorded by the gateway in its audit log."""

from __future__ import annotations

import sys

from zrc.lazy import lazy_module

from . import output

convert = lazy_module("zrc.common.convert")   # protobuf on first use: `zrc --help` stays cheap


def _dicts(messages, fields: tuple[str, ...], stamps: dict[str, str]) -> list[dict]:
    """Rows with ``fields`` in this order (what --json prints), timestamps as the server's records write them."""
    return [{f: convert.stamp_text(m, f, stamps[f]) if f in stamps else getattr(m, f) for f in fields} for m in messages]


def register(add, session, usage_error) -> None:
    """Add the admin parsers; ``add`` is main's parser factory, ``session`` its client context."""

    def users(a) -> int:
        with session(scoring=False) as client:
            rows = _dicts(client.list_users(), ("name", "admin", "disabled", "created_at"), {"created_at": convert.MS})
        if a.json:
            output.print_json(rows)
        else:
            output.table("Users", ["name", "admin", "disabled", "created"],
                         [[u["name"], "yes" if u["admin"] else "", "DISABLED" if u["disabled"] else "",
                           u["created_at"]] for u in rows])
        return 0

    def tokens(a) -> int:
        with session(scoring=False) as client:
            rows = _dicts(client.list_tokens(a.user), ("id", "prefix", "user", "created_at", "expires_at", "revoked"),
                          {"created_at": convert.MS, "expires_at": convert.SECONDS_Z})
        if a.json:
            output.print_json(rows)
        else:
            output.table(f"Tokens of {a.user}", ["id", "starts with", "created", "expires", "state"],
                         [[t["id"], t["prefix"] + "…", t["created_at"], t["expires_at"] or "never",
                           "revoked" if t["revoked"] else "active"] for t in rows])
        return 0

    def token_create(a) -> int:
        with session(scoring=False) as client:
            r = client.issue_token(a.user, a.expires_days)
        expires = convert.stamp_text(r, "expires_at", convert.SECONDS_Z)
        if a.json:
            output.print_json({"ok": True, "user": a.user, "token": r.token, "id": r.id, "expires_at": expires})
            return 0
        sys.stdout.write(r.token + "\n")   # stdout carries the token alone, for scripts
        output.note(f"token {r.id} for {a.user}: shown once, stored hashed on the server; "
                    f"expires {expires or 'never'}")
        return 0

    def token_revoke(a) -> int:
        given = [x for x in (a.token, a.id, a.user) if x]
        if len(given) != 1:
            raise usage_error("give exactly one of: TOKEN, --id ID (from admin:tokens), --user USER")
        with session(scoring=False) as client:
            n = client.revoke_tokens(token=a.token or "", token_id=a.id or "", user=a.user or "")
        if a.json:
            output.print_json({"ok": True, "revoked": n})
        else:
            output.note(f"{n} token(s) revoked")
        return 0

    def set_disabled(disabled: bool):
        def cmd(a) -> int:
            with session(scoring=False) as client:
                client.set_user_disabled(a.user, disabled)
            if a.json:
                output.print_json({"ok": True, "user": a.user, "disabled": disabled})
            else:
                output.note(f"user {a.user} {'disabled: their tokens are refused' if disabled else 'enabled'}")
            return 0
        return cmd

    def audit(a) -> int:
        with session(scoring=False) as client:
            rows = _dicts(client.audit(a.limit), ("at", "actor", "action", "target", "detail"), {"at": convert.SECONDS_Z})
        if a.json:
            output.print_json(rows)
        else:
            output.table("Admin actions", ["at", "by", "action", "target", "detail"],
                         [[r["at"], r["actor"], r["action"], r["target"], r["detail"]] for r in rows])
        return 0

    def grant(a) -> int:
        with session(scoring=False) as client:
            client.grant_submission(a.digest, a.user)
        if a.json:
            output.print_json({"digest": a.digest, "user": a.user, "granted": True})
        else:
            output.note(f"{a.user} may now evaluate submission {a.digest[:12]}")
        return 0

    add("admin:users", users, "admin: list users")
    sp = add("admin:tokens", tokens, "admin: a user's tokens (ids and first characters, never the secrets)")
    sp.add_argument("user")
    sp = add("admin:token-create", token_create, "admin: issue a token for USER (created if needed)")
    sp.add_argument("user")
    sp.add_argument("--expires-days", type=int, default=0, help="the token stops working after N days (0: never)")
    sp = add("admin:token-revoke", token_revoke, "admin: revoke a token, a token by id, or every token of a user")
    sp.add_argument("token", nargs="?", help="the token itself")
    sp.add_argument("--id", help="a token id from admin:tokens")
    sp.add_argument("--user", help="revoke every token of this user")
    sp = add("admin:user-disable", set_disabled(True), "admin: refuse every token of USER until enabled")
    sp.add_argument("user")
    sp = add("admin:user-enable", set_disabled(False), "admin: accept USER's tokens again")
    sp.add_argument("user")
    sp = add("admin:grant", grant, "admin: let USER evaluate a stored submission (by its sha256)")
    sp.add_argument("digest")
    sp.add_argument("user")
    sp = add("admin:audit", audit, "admin: the audit log of admin actions (newest last)")
    sp.add_argument("--limit", type=int, default=100)
