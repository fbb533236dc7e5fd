"""`chatd user add|list|del` (SPEC.md, "Staff accounts and command line")."""


def listed(svc):
    r = svc.cli("user", "list")
    assert r.returncode == 0, "`chatd user list` failed: %r" % r.stderr
    users = {}
    for line in r.stdout.decode().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            users[parts[0]] = parts[1]
    return users


def test_user_add_list_del(shared_sync):
    s = shared_sync
    r = s.add_user("lena", "lead", "s3cret pass")
    assert r.returncode == 0, "`chatd user add lena --role lead` failed: %r %r" % (r.stdout, r.stderr)
    assert listed(s).get("lena") == "lead", "new lead not in `chatd user list`: %r" % listed(s)
    assert s.chatd.login_response("lena", "s3cret pass").status == 200, \
        "the password given on stdin does not log in (newline kept in the hash?)"
    assert s.chatd.login_response("lena", "s3cret pass\n").status == 401, \
        "password with a trailing newline also logs in"
    r = s.cli("user", "del", "lena")
    assert r.returncode == 0, "`chatd user del lena` failed: %r" % r.stderr
    assert "lena" not in listed(s), "deleted user still listed"
    assert s.chatd.login_response("lena", "s3cret pass").status == 401, \
        "a deleted staff member can still log in"


def test_user_list_every_role(shared_sync):
    s = shared_sync
    for role in ("adviser", "lead", "supervisor", "admin"):
        r = s.add_user("role-" + role, role)
        assert r.returncode == 0, "cannot add a %s: %r" % (role, r.stderr)
    users = listed(s)
    for role in ("adviser", "lead", "supervisor", "admin"):
        assert users.get("role-" + role) == role, "user list shows %r for a %s" % (users.get("role-" + role), role)


def test_user_add_existing_fails(shared_sync):
    s = shared_sync
    assert s.add_user("mo", "adviser", "first password").returncode == 0
    r = s.add_user("mo", "admin", "second password")
    assert r.returncode != 0, "adding an existing name succeeded: it would silently replace an account"
    assert listed(s).get("mo") == "adviser", "the existing account's role was changed"
    assert s.chatd.login_response("mo", "first password").status == 200, \
        "the existing account's password was changed"


def test_user_add_bad_role_fails(shared_sync):
    s = shared_sync
    r = s.add_user("nia", "superuser")
    assert r.returncode != 0, "`--role superuser` was accepted"
    assert "nia" not in listed(s), "a user with a bad role was created anyway"


def test_user_del_unknown_fails(shared_sync):
    r = shared_sync.cli("user", "del", "no-such-person")
    assert r.returncode != 0, "deleting a user who does not exist reports success (a typo goes unnoticed)"
