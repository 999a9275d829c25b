"""Seeds a rig mailbox for a smoke test: a password user (tests/rig/add-password-user.sh) and three messages in its
Maildir (a short one, one spanning several 64 KiB chunks, one with an attachment). Prints the messages' SHA-256s,
comma-separated: the bytes POP3 serves (CRLF line ends) are exactly the bytes written.

usage: seed_mailbox.py seed|seed-large|remove MAIL_ROOT MAIL_UID MAIL_GID USER [PASSWORD]
seed-large writes three 30 MB messages instead (for the C# client's memory measurement); seed-bench writes 1,000
messages of 50 KB (bench/sdks.sh).
"""

import base64
import hashlib
import os
import shutil
import subprocess
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


def edit_passwd(user: str, password: str | None) -> None:
    """Adds, replaces or removes an app-password user through the rig's one writer, tests/rig/add-password-user.sh
    (usable when it returns)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "rig", "add-password-user.sh")
    args = ["--remove", user] if password is None else [user, password]
    subprocess.run(["bash", script, *args], check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    action, mail_root, uid, gid, user = sys.argv[1:6]
    user = user.lower()
    home = os.path.join(mail_root, user)
    if action == "remove":
        edit_passwd(user, None)
        shutil.rmtree(home, ignore_errors=True)
        return
    password = sys.argv[6]
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
    edit_passwd(user, password)
    print(",".join(shas))


if __name__ == "__main__":
    main()
