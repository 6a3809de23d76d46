"""An SFTP server as a destination (paramiko): verified host keys, one connection per run, atomic uploads.

- **Host keys are verified** against a known_hosts file (``[host]:port`` entries for other ports than 22)
  or a pinned ``SHA256:...`` fingerprint, as ``ssh-keygen -lf`` prints it. An unknown or changed key
  is refused with the host, port and the fingerprint seen. ``insecure_accept_any_host_key`` turns
  verification off for local testing and says so loudly in the log on every connection.
- **One connection** (one SSH transport) serves the whole run, with keep-alives; uploads of many files
  run over several SFTP sessions (channels) of that connection in parallel threads.
- **Connection loss** (reset, EOF, timeout, a restarted server, a session the server ended), told by the
  transport's and the channel's state, reconnects and retries the operation with exponential backoff, a
  bounded number of times; ``retries`` counts them. Refused credentials and host keys are not retried,
  nor is anything the server refuses (permission, a full disk): those are reported at once.
- **Atomic uploads:** each file is written to ``.<name>.<random>.tmp`` in its final directory, its size
  checked, and renamed with the OpenSSH ``posix-rename`` extension (remove + rename only where a server
  lacks it), so nobody downstream sees a partial file under its final name.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import posixpath
import socket
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TypeVar

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from monitoring_pipeline.destinations.base import (
    DestinationAuthError,
    DestinationError,
    HostKeyError,
    RemoteFile,
    UploadHook,
    put_in_parallel,
)
from monitoring_pipeline.retry import Backoff, RetryPolicy, retrying

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"
# Flow-control window and packet size we offer; OpenSSH's sftp uses the same order of magnitude.
_WINDOW_BYTES = 8 * 1024 * 1024
_MAX_PACKET_BYTES = 32768
_READ_CHUNK = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class SftpSettings:
    """How to reach one SFTP server. Secrets are excluded from ``repr``."""

    host: str
    username: str
    remote_base_path: str
    port: int = 22
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)  # PEM/OpenSSH text
    private_key_path: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    known_hosts_path: str | None = None
    host_key_fingerprint: str | None = None  # "SHA256:..."
    insecure_accept_any_host_key: bool = False
    connect_timeout_seconds: float = 15.0
    keepalive_seconds: int = 30
    operation_timeout_seconds: float = 120.0
    max_attempts: int = 5
    initial_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    parallel_sessions: int = 4
    name: str = "sftp"

    def __post_init__(self) -> None:
        where = f"SFTP destination {self.name!r}"
        modes = [bool(self.known_hosts_path), bool(self.host_key_fingerprint), self.insecure_accept_any_host_key]
        if sum(modes) != 1:
            raise ValueError(
                f"{where}: expected exactly one of known_hosts_path, host_key_fingerprint or "
                f"insecure_accept_any_host_key (the last one for local testing only)"
            )
        if self.host_key_fingerprint and not self.host_key_fingerprint.startswith("SHA256:"):
            raise ValueError(f"{where}: host_key_fingerprint: expected 'SHA256:...' as `ssh-keygen -lf` prints it")
        if not (self.password or self.private_key or self.private_key_path):
            raise ValueError(f"{where}: expected a private key (private_key or private_key_path) or a password")
        if not self.remote_base_path.startswith("/") and self.remote_base_path not in (".", ""):
            raise ValueError(f"{where}: remote_base_path: expected an absolute path such as /upload/dnb")
        if self.parallel_sessions < 1 or self.max_attempts < 1:
            raise ValueError(f"{where}: parallel_sessions and max_attempts must be at least 1")

    @property
    def retry_policy(self) -> RetryPolicy:
        """Reconnections per operation: a bounded number, with no time bound (an upload takes what it takes)."""
        backoff = Backoff(initial_seconds=min(self.initial_backoff_seconds, self.max_backoff_seconds),
                          max_seconds=self.max_backoff_seconds)
        return RetryPolicy(max_attempts=self.max_attempts, max_elapsed_seconds=None, backoff=backoff)


def describe_sftp(username: str, host: str, port: int, remote_base_path: str) -> str:
    """Where an SFTP destination is, without credentials: safe for logs, metadata and the status table."""
    return f"sftp://{username}@{host}:{port}{remote_base_path}"


def host_key_fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:<base64, no padding>``: the form ``ssh-keygen -lf`` and OpenSSH's own messages use."""
    return str(key.fingerprint)


def verify_host_key(settings: SftpSettings, key: paramiko.PKey) -> None:
    """Refuse a host key that is not the one we know; the error names host, port and the fingerprint seen."""
    where = f"{settings.host}:{settings.port}"
    seen = f"{key.get_name()} {host_key_fingerprint(key)}"
    if settings.insecure_accept_any_host_key:
        log.warning(
            "INSECURE: host key verification is OFF for SFTP destination %r (%s, key %s): "
            "insecure_accept_any_host_key is for local testing only", settings.name, where, seen,
        )
        return
    if settings.host_key_fingerprint:
        if settings.host_key_fingerprint.rstrip("=") != host_key_fingerprint(key).rstrip("="):
            raise HostKeyError(
                f"host key of {where} is {seen}, not the pinned {settings.host_key_fingerprint}: refusing to connect "
                f"(the server's key changed, or someone is impersonating it)"
            )
        return
    path = str(settings.known_hosts_path)
    try:
        known = paramiko.HostKeys(path)
    except OSError as error:
        raise HostKeyError(f"known_hosts file {path} for {where} cannot be read: {error.strerror}") from None
    entries = known.lookup(_known_hosts_name(settings.host, settings.port))
    if not entries:
        raise HostKeyError(
            f"{where} is not in known_hosts {path}; its host key is {seen}. Verify that fingerprint out of band, "
            f"then add the key (ssh-keyscan -p {settings.port} {settings.host} >> {path})"
        )
    expected = entries.get(key.get_name())
    if expected is None or expected != key:
        listed = ", ".join(f"{k.get_name()} {host_key_fingerprint(k)}" for k in entries.values())
        raise HostKeyError(
            f"HOST KEY CHANGED for {where}: the server presented {seen}, known_hosts {path} lists {listed}. "
            f"Refusing to connect (the server was reinstalled, or someone is impersonating it)"
        )


def _known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def load_private_key(text: str | None, path: str | None, passphrase: str | None) -> paramiko.PKey | None:
    """The client key from PEM/OpenSSH text or a file; errors never quote the key or passphrase."""
    if not text and not path:
        return None
    source = "private_key" if text else f"private_key_path {path}"
    try:
        if path and not text:
            return paramiko.PKey.from_path(path, passphrase=passphrase)
        data = str(text).encode()
        secret = passphrase.encode() if passphrase else None
        try:
            loaded = serialization.load_ssh_private_key(data, password=secret)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=secret)
        key_class: type[paramiko.PKey]
        if isinstance(loaded, rsa.RSAPrivateKey):
            key_class = paramiko.RSAKey
        elif isinstance(loaded, ed25519.Ed25519PrivateKey):
            key_class = paramiko.Ed25519Key
        elif isinstance(loaded, ec.EllipticCurvePrivateKey):
            key_class = paramiko.ECDSAKey
        else:
            raise ValueError("unsupported key type")
        return key_class.from_private_key(io.StringIO(str(text)), password=passphrase)  # type: ignore[attr-defined]
    except (OSError, ValueError, TypeError, paramiko.SSHException) as error:
        reason = "wrong or missing passphrase" if "password" in str(error).lower() else type(error).__name__
        raise DestinationAuthError(f"SFTP client key ({source}) cannot be loaded: {reason}") from None


def is_connection_loss(error: BaseException) -> bool:
    """Whether reconnecting may help: the connection failed, not the server's answer.

    The server's refusals (paramiko's ``IOError`` from an SFTP status: no such file, permission denied, or
    a bare ``Failure`` for a full disk or quota, whose errno is None) are final and reported at once.
    ``_session`` turns anything raised while the transport or the session's channel died into
    ``_ConnectionLost``, whatever paramiko raised.
    """
    if isinstance(error, DestinationAuthError | HostKeyError):
        return False
    return isinstance(error, _ConnectionLost | EOFError | ConnectionError | TimeoutError | paramiko.SSHException)


def rename_unsupported(error: OSError) -> bool:
    """Whether a failed ``posix-rename`` means the server lacks the extension (SSH_FX_OP_UNSUPPORTED).

    paramiko keeps only the server's text for that status ("Operation unsupported" from OpenSSH and paramiko's
    server); any other failure of the rename is the server refusing it, and is reported, never worked around
    by removing the existing file first.
    """
    return error.errno == errno.EOPNOTSUPP or "unsupported" in str(error).lower()


def _refused(error: OSError, what: str) -> OSError:
    """The server's refusal of ``what``, in words, keeping its errno."""
    detail = error.strerror or str(error) or type(error).__name__
    if error.errno is None and detail == "Failure":  # SSH_FX_FAILURE: the server gives no cause
        detail += " (the SFTP server gives no reason: a full disk, a quota or something in the way are common causes)"
    refused = OSError(f"{what}: {detail}")
    refused.errno = error.errno
    return refused


def _ended(channel: paramiko.Channel) -> bool:
    return bool(channel.closed or channel.eof_received)


class _ConnectionLost(Exception):
    """Raised when a session's transport died under an operation (whatever paramiko raised)."""


class SftpStore:
    """Notification files on an SFTP server under ``remote_base_path``."""

    def __init__(self, settings: SftpSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.retries = 0
        self._key = load_private_key(settings.private_key, settings.private_key_path, settings.passphrase)
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        self._generation = 0
        self._free: list[paramiko.SFTPClient] = []
        self._directories: set[str] = set()

    # ---- description and paths ---------------------------------------------------------------------

    def describe(self) -> str:
        s = self.settings
        return describe_sftp(s.username, s.host, s.port, s.remote_base_path)

    def _remote(self, path: str) -> str:
        relative = posixpath.normpath(path)
        if relative.startswith(("/", "..")):
            raise DestinationError(f"{self.describe()}: refusing a path outside the base: {path!r}")
        return posixpath.join(self.settings.remote_base_path or ".", relative)

    # ---- connection ---------------------------------------------------------------------------------

    def _connect(self) -> paramiko.Transport:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.connect_timeout_seconds)
        except OSError as error:
            raise _ConnectionLost(f"cannot connect to {where}: {error.strerror or error}") from None
        # Requests are small and answered one by one: Nagle's algorithm would hold them for delayed ACKs.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(
            sock, default_window_size=_WINDOW_BYTES, default_max_packet_size=_MAX_PACKET_BYTES
        )
        try:
            transport.banner_timeout = s.connect_timeout_seconds
            self._prefer_known_key_type(transport)
            transport.start_client(timeout=s.connect_timeout_seconds)
            verify_host_key(s, transport.get_remote_server_key())
            self._authenticate(transport)
            transport.set_keepalive(s.keepalive_seconds)
        except BaseException:
            transport.close()
            raise
        return transport

    def _prefer_known_key_type(self, transport: paramiko.Transport) -> None:
        """Negotiate the host key type known_hosts lists (as OpenSSH does), so a known key is compared."""
        if not self.settings.known_hosts_path:
            return
        with suppress(OSError):
            entries = paramiko.HostKeys(self.settings.known_hosts_path).lookup(
                _known_hosts_name(self.settings.host, self.settings.port)
            )
            if entries:
                options = transport.get_security_options()
                known = [t for t in options.key_types if t in entries or
                         (t.startswith("rsa-sha2") and "ssh-rsa" in entries)]
                options.key_types = known + [t for t in options.key_types if t not in known]

    def _authenticate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        tried = []
        if self._key is not None:
            tried.append("public key")
            with suppress(paramiko.AuthenticationException):
                transport.auth_publickey(s.username, self._key)
        if not transport.is_authenticated() and s.password:
            tried.append("password")
            with suppress(paramiko.AuthenticationException):
                transport.auth_password(s.username, s.password)
        if not transport.is_authenticated():
            raise DestinationAuthError(
                f"{s.host}:{s.port} refused user {s.username!r} ({' and '.join(tried)} authentication failed): "
                f"check the credentials configured for destination {s.name!r}"
            )

    @contextmanager
    def _session(self) -> Iterator[paramiko.SFTPClient]:
        """An SFTP session of the current connection, connecting (again) when needed."""
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                self._drop_connection()
                self._transport = self._connect()
                self._generation += 1
            generation = self._generation
            sftp = self._free.pop() if self._free else None
            transport = self._transport
        try:
            if sftp is None:
                sftp = paramiko.SFTPClient.from_transport(
                    transport, window_size=_WINDOW_BYTES, max_packet_size=_MAX_PACKET_BYTES
                )
                if sftp is None:
                    raise _ConnectionLost("the server refused an SFTP session")
                # A server that stops answering must not hang the run: keep-alives alone don't notice.
                sftp.get_channel().settimeout(self.settings.operation_timeout_seconds)
            yield sftp
        except BaseException as error:
            if isinstance(error, socket.timeout):
                transport.close()  # unusable now; the retry reconnects
            # The state of the connection, not the exception, says whether it was lost: paramiko raises
            # OSError("Socket is closed"), EOFError or SSHException when a session's channel or the transport
            # dies. A session the server ended is dropped (the retry opens another on the same connection).
            if not transport.is_active() or (sftp is not None and _ended(sftp.get_channel())):
                if isinstance(error, _ConnectionLost):
                    raise
                raise _ConnectionLost(f"connection lost: {str(error) or type(error).__name__}") from error
            self._release(generation, sftp)  # a refused operation leaves the session usable
            raise
        else:
            self._release(generation, sftp)

    def _release(self, generation: int, sftp: paramiko.SFTPClient | None) -> None:
        with self._lock:
            if sftp is not None and generation == self._generation:
                self._free.append(sftp)

    def _drop_connection(self) -> None:
        self._free.clear()
        self._directories.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _call(self, what: str, operation: Callable[[paramiko.SFTPClient], T]) -> T:
        """Run ``operation`` on a session; reconnect and retry with backoff when the connection is lost."""
        attempts = retrying(self.settings.retry_policy, retryable=is_connection_loss, on_retry=self._count_retry)
        try:
            for attempt in attempts:
                with attempt, self._session() as sftp:
                    return operation(sftp)
        except DestinationError:
            raise
        except Exception as error:
            made = attempts.statistics.get("attempt_number", 1)
            detail = str(error) or type(error).__name__
            if is_connection_loss(error):
                raise DestinationError(
                    f"{self.describe()}: {what} failed after {made} attempt(s): {detail}"
                ) from None
            raise DestinationError(f"{self.describe()}: {what} failed: {detail}") from None
        raise AssertionError("unreachable")

    def _count_retry(self, attempt: int, error: BaseException, wait: float) -> None:
        with self._lock:
            self.retries += 1
        log.warning("SFTP destination %r (%s): %s; reconnecting", self.name,
                    f"{self.settings.host}:{self.settings.port}", error)

    def connect(self) -> None:
        """Open the connection now (it opens lazily otherwise): fails fast on host key or credentials."""
        self._call("connecting", lambda sftp: sftp.normalize("."))

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    # ---- files --------------------------------------------------------------------------------------

    def _makedirs(self, sftp: paramiko.SFTPClient, directory: str) -> None:
        if directory in self._directories or directory in ("", "/", "."):
            return
        try:
            if stat.S_ISDIR(sftp.stat(directory).st_mode or 0):
                self._directories.add(directory)
                return
        except FileNotFoundError:
            pass
        self._makedirs(sftp, posixpath.dirname(directory))
        try:
            sftp.mkdir(directory)
        except OSError as error:
            # Another session created it meanwhile, or it truly failed: stat tells which.
            try:
                created = stat.S_ISDIR(sftp.stat(directory).st_mode or 0)
            except OSError:
                created = False
            if not created:
                raise _refused(error, f"creating {directory}") from None
        self._directories.add(directory)

    def _upload(self, sftp: paramiko.SFTPClient, path: str, data: bytes) -> None:
        final = self._remote(path)
        directory, name = posixpath.split(final)
        self._makedirs(sftp, directory)
        temp = posixpath.join(directory, f".{name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}")
        try:
            with sftp.open(temp, "wb") as handle:
                handle.set_pipelined(True)
                handle.write(data)
            # Pipelined writes drop the server's answers (paramiko reads no status of a pipelined write), so a
            # write refused for a full disk or a quota would go unnoticed: the size tells (as paramiko's putfo).
            stored = sftp.stat(temp).st_size
            if stored != len(data):
                raise OSError(f"the server stored {stored} of {len(data)} bytes of {temp} (a full disk or a quota?)")
            try:
                sftp.posix_rename(temp, final)
            except OSError as error:
                if not rename_unsupported(error):
                    raise _refused(error, f"renaming {temp} to {final}") from None
                with suppress(FileNotFoundError):
                    sftp.remove(final)
                sftp.rename(temp, final)
        except BaseException:
            with suppress(Exception):
                sftp.remove(temp)
            raise

    def put(self, path: str, data: bytes, sha256: str) -> None:
        self._call(f"uploading {path}", lambda sftp: self._upload(sftp, path, data))

    def put_many(self, items: list[tuple[str, bytes, str]], on_stored: UploadHook | None = None) -> None:
        put_in_parallel(self.put, items, on_stored, self.settings.parallel_sessions, f"sftp-{self.name}")

    def _walk(self, sftp: paramiko.SFTPClient, directory: str) -> Iterator[tuple[str, paramiko.SFTPAttributes]]:
        try:
            entries = sftp.listdir_attr(directory)
        except FileNotFoundError:
            return
        for entry in entries:
            full = posixpath.join(directory, entry.filename)
            if stat.S_ISDIR(entry.st_mode or 0):
                yield from self._walk(sftp, full)
            else:
                yield full, entry

    def _relative(self, full: str) -> str:
        return posixpath.relpath(full, self.settings.remote_base_path or ".")

    def list_files(self, prefix: str) -> list[RemoteFile]:
        def listing(sftp: paramiko.SFTPClient) -> list[RemoteFile]:
            return sorted(
                RemoteFile(self._relative(full), int(entry.st_size or 0))
                for full, entry in self._walk(sftp, self._remote(prefix))
                if not entry.filename.startswith(".")
            )

        return self._call(f"listing {prefix}", listing)

    def sha256(self, path: str) -> str | None:
        def digest(sftp: paramiko.SFTPClient) -> str | None:
            hasher = hashlib.sha256()
            try:
                with sftp.open(self._remote(path), "rb") as handle:
                    handle.prefetch()
                    while chunk := handle.read(_READ_CHUNK):
                        hasher.update(chunk)
            except FileNotFoundError:
                return None
            return hasher.hexdigest()

        return self._call(f"reading {path}", digest)

    def delete(self, paths: list[str]) -> None:
        def remove(sftp: paramiko.SFTPClient) -> None:
            parents = set()
            for path in paths:
                with suppress(FileNotFoundError):
                    sftp.remove(self._remote(path))
                parents.add(posixpath.dirname(self._remote(path)))
            for parent in sorted(parents, reverse=True):
                with suppress(OSError):  # only empty directories go
                    sftp.rmdir(parent)
                    self._directories.discard(parent)

        if paths:
            self._call(f"deleting {len(paths)} file(s)", remove)

    def sweep_temporary(self, prefix: str, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds

        def sweep(sftp: paramiko.SFTPClient) -> int:
            removed = 0
            for full, entry in list(self._walk(sftp, self._remote(prefix))):
                name = entry.filename
                if name.startswith(".") and name.endswith(TEMP_SUFFIX) and (entry.st_mtime or 0) < cutoff:
                    with suppress(FileNotFoundError):
                        sftp.remove(full)
                        removed += 1
            return removed

        return self._call(f"sweeping temporary files under {prefix}", sweep)
