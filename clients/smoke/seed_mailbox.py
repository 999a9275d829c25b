"""Seeds a rig mailbox for a smoke test: a password user in the rig's Dovecot passwd-file and three messages in its
Maildir (a short one, one spanning several 64 KiB chunks, one with an attachment). Prints the messages' SHA-256s,
comma-separated: the bytes POP3 serves (CRLF line ends) are exactly the bytes written.

usage: seed_mailbox.py seed|seed-large|remove MAIL_ROOT MAIL_UID MAIL_GID PASSWD_FILE PASSWD_LOCK USER [PASSWORD]
seed-large writes three 30 MB messages instead (for the C# client's memory measurement); seed-bench writes 1,000
messages of 50 KB (bench/sdks.sh).
"""

import base64
import fcntl
import hashlib
import os
import shutil
import sys
import time


def message(user: str, index: int, subject: str, body: str, attachment: bytes | None = None) -> bytes:
    headers = [
        "From: Smoke Sender <sender@rig.test>",
        f"To: <{user}>",
        f"Subject: {subject}",
        f"Message-ID: <smoke-{index}-{os.getpid()}-{time.time_ns()}@rig.test>",
        "Date: Fri, 27 Nov 2026 12:00:00 +0000",
        "MIME-Version: 1.0",
    ]
    if attachment is None:
        lines = headers + ["Content-Type: text/plain; charset=utf-8", "", *body.split("\n")]
    else:
        encoded = base64.encodebytes(attachment).decode().rstrip("\n").split("\n")
        lines = headers + [
            'Content-Type: multipart/mixed; boundary="smoke-boundary"', "",
            "--smoke-boundary", "Content-Type: text/plain; charset=utf-8", "", body, "",
            "--smoke-boundary", 'Content-Type: application/octet-stream; name="data.bin"',
            'Content-Disposition: attachment; filename="data.bin"', "Content-Transfer-Encoding: base64", "",
            *encoded, "--smoke-boundary--",
        ]
    return ("\r\n".join(lines) + "\r\n").encode()


def edit_passwd(passwd_file: str, lock_file: str, user: str, password: str | None) -> None:
    """Adds, replaces or removes a user the way tests/rig/README.md says Dovecot needs it: under the writers' flock,
    by rename, with the whole-second mtime moved forward (Dovecot reloads only when mtime or size changed), then
    waiting for the next wall-clock second (Dovecot looks at the file at most once per second)."""
    with open(lock_file, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            old_mtime = int(os.stat(passwd_file).st_mtime)
            with open(passwd_file) as f:
                lines = [line for line in f.read().splitlines() if line and line.split(":", 1)[0] != user]
        except FileNotFoundError:
            old_mtime, lines = 0, []
        if password is not None:
            lines.append(f"{user}:{{PLAIN}}{password}")
        tmp = passwd_file + f".tmp{os.getpid()}"
        with open(tmp, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        os.chmod(tmp, 0o644)
        mtime = max(int(time.time()), old_mtime + 1)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, passwd_file)
    if password is not None:
        time.sleep(1 - (time.time() % 1) + 0.02)


def main() -> None:
    action, mail_root, uid, gid, passwd_file, lock_file, user = sys.argv[1:8]
    user = user.lower()
    home = os.path.join(mail_root, user)
    if action == "remove":
        edit_passwd(passwd_file, lock_file, user, None)
        shutil.rmtree(home, ignore_errors=True)
        return
    password = sys.argv[8]
    shutil.rmtree(home, ignore_errors=True)
    maildir = os.path.join(home, "Maildir")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    if action == "seed-large":
        # 30 MB each: base64 of random bytes, 76-character lines.
        messages = [message(user, i, f"Smoke test: 30 MB #{i}", "A large attachment.", attachment=os.urandom(22_400_000))
                    for i in range(1, 4)]
    elif action == "seed-bench":
        # 36,900 random bytes in base64 plus headers: 50,000 bytes +- a few.
        messages = [message(user, i, f"Benchmark #{i}", "A 50 KB message.", attachment=os.urandom(36_900))
                    for i in range(1, 1001)]
    else:
        big_body = "\n".join(f"line {i:06d} of a message that spans several 64 KiB chunks" for i in range(6000))
        messages = [
            message(user, 1, "Smoke test: short", "Hello from the MailGrpc smoke test."),
            message(user, 2, "Smoke test: large", big_body),
            message(user, 3, "Smoke test: attachment", "See the attachment.", attachment=os.urandom(50_000)),
        ]
    shas = []
    for i, content in enumerate(messages):
        # Written in tmp/ and renamed into new/, so Dovecot never sees half a message.
        name = f"{int(time.time())}.smoke{i}_{os.getpid()}.rig"
        with open(os.path.join(maildir, "tmp", name), "wb") as f:
            f.write(content)
        os.rename(os.path.join(maildir, "tmp", name), os.path.join(maildir, "new", name))
        shas.append(hashlib.sha256(content).hexdigest())
    for root, dirs, files in os.walk(home):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.chown(name, int(uid), int(gid))
    edit_passwd(passwd_file, lock_file, user, password)
    print(",".join(shas))


if __name__ == "__main__":
    main()
