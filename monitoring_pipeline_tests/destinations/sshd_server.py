"""A real OpenSSH ``sshd`` on a free loopback port, for the SFTP tests and the SFTP benchmark.

One piece serves both: ``SshdServer.start(workdir)`` generates a host key and a client key with
``ssh-keygen``, writes an ``sshd_config`` that allows only SFTP (``internal-sftp``, started in the
server's remote root), and runs ``/usr/sbin/sshd -D -e``. A dedicated system user logs in with the
client key or with a random password. We run as root (CI does too), so the user is created here
with ``useradd`` when missing and its password set with ``chpasswd``.
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SFTP_USER = "mp-sftp-test"
INSTALL_HINT = "install it with `apt-get install openssh-server` (scripts/test does this)"
# One random password per process: every sshd of a test session serves the same system user.
_PASSWORD = secrets.token_urlsafe(18)


class SshdUnavailable(RuntimeError):
    """What the SFTP tests need is missing; the message says what and how to get it."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(*command: str, stdin: str | None = None) -> str:
    completed = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SshdUnavailable(f"{' '.join(command[:2])} failed: {completed.stderr.strip()}")
    return completed.stdout


def ensure_sftp_user() -> tuple[int, int]:
    """The test user's (uid, gid), creating the system user when it does not exist yet."""
    if not SSHD.exists():
        raise SshdUnavailable(f"{SSHD} is missing: {INSTALL_HINT}")
    if os.geteuid() != 0:
        raise SshdUnavailable("the SFTP tests start sshd with a dedicated user and need to run as root")
    try:
        _run("id", "-u", SFTP_USER)
    except SshdUnavailable:
        _run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", SFTP_USER)
    return int(_run("id", "-u", SFTP_USER)), int(_run("id", "-g", SFTP_USER))


def generate_key(path: Path, comment: str) -> None:
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))


def fingerprint(public_key: Path) -> str:
    """``SHA256:...`` as ``ssh-keygen -lf`` prints it."""
    return _run("ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)).split()[1]


@dataclass
class SshdServer:
    """One sshd: its files live in ``workdir``; uploads land under ``remote_root``."""

    workdir: Path
    port: int
    password: str = field(repr=False)
    process: subprocess.Popen[bytes] | None = None
    # Bytes any file written by the server may hold (RLIMIT_FSIZE): writes beyond fail as on a full disk.
    file_size_limit: int | None = None

    host = "127.0.0.1"
    user = SFTP_USER

    @property
    def host_key(self) -> Path:
        return self.workdir / "ssh_host_ed25519_key"

    @property
    def client_key(self) -> Path:
        return self.workdir / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "known_hosts"

    @property
    def remote_root(self) -> Path:
        return self.workdir / "remote"

    @property
    def log_path(self) -> Path:
        return self.workdir / "sshd.log"

    @property
    def host_fingerprint(self) -> str:
        return fingerprint(self.host_key.with_suffix(".pub"))

    @classmethod
    def create(cls, workdir: Path, port: int | None = None, file_size_limit: int | None = None) -> SshdServer:
        """Prepare keys, user, known_hosts and config in ``workdir`` (not yet started)."""
        uid, gid = ensure_sftp_user()
        workdir.mkdir(parents=True, exist_ok=True)
        # The SFTP user must reach its remote root and read its authorized_keys through every parent.
        for parent in [workdir, *workdir.parents]:
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o011)
        server = cls(workdir=workdir, port=port or free_port(), password=_PASSWORD, file_size_limit=file_size_limit)
        generate_key(server.host_key, "mp-test-host")
        generate_key(server.client_key, "mp-test-client")
        authorized = workdir / "authorized_keys"
        shutil.copyfile(server.client_key.with_suffix(".pub"), authorized)
        authorized.chmod(0o644)
        server.remote_root.mkdir(exist_ok=True)
        os.chown(server.remote_root, uid, gid)
        host_public = server.host_key.with_suffix(".pub").read_text().split()
        server.known_hosts.write_text(f"[{server.host}]:{server.port} {host_public[0]} {host_public[1]}\n")
        _run("chpasswd", stdin=f"{SFTP_USER}:{server.password}\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        (workdir / "sshd_config").write_text(
            "\n".join([
                f"Port {server.port}",
                f"ListenAddress {server.host}",
                f"HostKey {server.host_key}",
                f"PidFile {workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin no",
                f"AllowUsers {SFTP_USER}",
                "MaxStartups 64",
                "MaxSessions 64",
                "LogLevel VERBOSE",
                # SFTP only, starting in the remote root (the test user owns nothing else).
                f"Subsystem sftp internal-sftp -d {server.remote_root}",
                f"ForceCommand internal-sftp -d {server.remote_root}",
                "AllowTcpForwarding no",
                "X11Forwarding no",
                "",
            ])
        )
        return server

    def start(self) -> SshdServer:
        if self.process is not None and self.process.poll() is None:
            return self
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the process
        self.process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(self.workdir / "sshd_config")],
            stdout=log, stderr=log, start_new_session=True,
            preexec_fn=self._limit_file_size if self.file_size_limit is not None else None,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_tail = self.log_path.read_text()[-2000:]
                raise SshdUnavailable(f"sshd exited with {self.process.returncode}: {log_tail}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as probe:
                    if probe.recv(4).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        log_tail = self.log_path.read_text()[-2000:]
        raise SshdUnavailable(f"sshd did not accept connections on port {self.port}: {log_tail}")

    def _limit_file_size(self) -> None:
        """In the server's process, before exec: cap file sizes; a write beyond then fails with EFBIG, which
        sftp-server reports as SSH_FX_FAILURE, as it does ENOSPC or EDQUOT (SIGXFSZ would kill it instead)."""
        assert self.file_size_limit is not None
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size_limit, self.file_size_limit))

    def kill(self) -> None:
        """SIGKILL the listener and every connection it serves (each runs in its own session)."""
        if self.process is None:
            return
        for pid in [self.process.pid, *_descendants(self.process.pid)]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()

    def end_sftp_sessions(self) -> int:
        """SIGKILL the processes serving SFTP sessions (``sshd: <user>@internal-sftp``), as when sftp-server
        crashes: their channels close while the connections stay up. Returns how many were ended."""
        ended = 0
        for pid in _descendants(self.process.pid) if self.process is not None else []:
            with suppress(OSError):
                if b"@internal-sftp" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
                    ended += 1
        return ended


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (sshd's per-connection children call setsid)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found
