"""A local inbox for alert notifications: a recording HTTP receiver (chat webhooks, PagerDuty, Twilio, generic
webhooks, Alertmanager's webhook) and an SMTP server (aiosmtpd; plain, STARTTLS or implicit TLS; optional AUTH).

The tests script their answers (200, 429 with Retry-After, 5xx, 404, a hang) and read what arrived, byte for byte;
the demo writes every message under a folder (``./data/inbox/``) as a file a newcomer can open: e-mails as
``.eml``, HTTP messages as pretty JSON, and one line per message in ``index.txt``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import threading
import time
import warnings
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from starlette.types import Receive, Scope, Send

from monitoring_pipeline.httpserver import BackgroundServer, free_port, uvicorn_server


class _QuietLegacyNotice(logging.Filter):
    """aiosmtpd logs a deprecation notice on every AUTH (its own code sets the legacy attribute), and a warning for
    AUTH over implicit TLS, which it does not count as TLS."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "login_data is deprecated" not in message and "auth_require_tls == False" not in message


logging.getLogger("mail.log").addFilter(_QuietLegacyNotice())


class _Controller(Controller):
    def factory(self) -> SMTP:
        with warnings.catch_warnings():  # AUTH over implicit TLS: aiosmtpd warns it is not over (START)TLS
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()

# Headers that carry credentials: recorded for the tests, never written to the inbox files.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "x-webhook-signature"})


@dataclass(frozen=True)
class Reply:
    """A scripted answer. ``hang``: answer nothing until the client gives up (or the server stops)."""

    status: int = 200
    body: bytes | str = b"ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False

    def json(self) -> Reply:
        """This reply with a JSON content type."""
        return Reply(self.status, self.body, {"content-type": "application/json", **self.headers}, self.hang)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    received_at: float  # time.time()

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))


class _Recorder:
    def __init__(self, inbox_dir: Path | None) -> None:
        self.lock = threading.Lock()
        self.requests: list[ReceivedRequest] = []
        self.scripts: dict[str, deque[Reply]] = {}
        self.defaults: dict[str, Reply] = {}
        self.inbox_dir = inbox_dir
        self.release = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def reply_for(self, path: str) -> Reply:
        with self.lock:
            for prefix in sorted(self.scripts, key=len, reverse=True):
                if path.startswith(prefix) and self.scripts[prefix]:
                    return self.scripts[prefix].popleft()
            for prefix in sorted(self.defaults, key=len, reverse=True):
                if path.startswith(prefix):
                    return self.defaults[prefix]
        return Reply()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.loop = asyncio.get_running_loop()
                    self.release = asyncio.Event()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = ReceivedRequest(scope["method"], scope["path"], scope.get("query_string", b"").decode(), headers,
                                  body, time.time())
        reply = self.reply_for(request.path)
        with self.lock:
            self.requests.append(request)
        if self.inbox_dir is not None:
            write_http_message(self.inbox_dir, request)
        if reply.hang:
            disconnected = asyncio.ensure_future(_until_disconnect(receive))
            released = asyncio.ensure_future(self.release.wait())
            await asyncio.wait({disconnected, released}, return_when=asyncio.FIRST_COMPLETED)
            disconnected.cancel()
            released.cancel()
            return
        content = reply.body.encode() if isinstance(reply.body, str) else reply.body
        response_headers = [(b"content-length", str(len(content)).encode())]
        response_headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        if not any(k == b"content-type" for k, _ in response_headers):
            response_headers.append((b"content-type", b"text/plain; charset=utf-8"))
        await send({"type": "http.response.start", "status": reply.status, "headers": response_headers})
        await send({"type": "http.response.body", "body": content})

    def release_hanging(self) -> None:
        self.release.set()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class RecordingReceiver(BackgroundServer):
    """An HTTP server that records every request and answers as scripted (default: 200 ``ok``)."""

    label = "recording receiver"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, inbox_dir: Path | None = None) -> None:
        super().__init__(host, port)
        self._recorder = _Recorder(inbox_dir)

    def _build_server(self) -> uvicorn.Server:
        return uvicorn_server(self._recorder, http="auto", before_shutdown=[self._recorder.release_hanging],
                              timeout_keep_alive=75, backlog=2048)

    def script(self, path_prefix: str, *replies: Reply) -> None:
        """Answer the next requests under ``path_prefix`` with ``replies``, in order (then the default)."""
        with self._recorder.lock:
            self._recorder.scripts.setdefault(path_prefix, deque()).extend(replies)

    def default(self, path_prefix: str, reply: Reply) -> None:
        """Answer requests under ``path_prefix`` with ``reply`` once their script is used up."""
        with self._recorder.lock:
            self._recorder.defaults[path_prefix] = reply

    def received(self, path_prefix: str = "/") -> list[ReceivedRequest]:
        with self._recorder.lock:
            return [r for r in self._recorder.requests if r.path.startswith(path_prefix)]

    def clear(self) -> None:
        with self._recorder.lock:
            self._recorder.requests.clear()
            self._recorder.scripts.clear()


# -- SMTP --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # exactly what the client sent after DATA
    tls: bool  # the session was encrypted (STARTTLS or implicit TLS)
    login: str | None  # the user who authenticated, if any

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


class _MailHandler:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_RCPT(self, smtp: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          options: list[str]) -> str:
        refusal = self.server.refuse_recipients.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.server.data_replies:
            return self.server.data_replies.popleft()
        login = session.auth_data if isinstance(session.auth_data, str) else None
        mail = ReceivedMail(envelope.mail_from or "", tuple(envelope.rcpt_tos), bytes(envelope.original_content or
                                                                                      envelope.content or b""),
                            session.ssl is not None or self.server.security == "tls", login)
        with self.server.lock:
            self.server.mails.append(mail)
        if self.server.inbox_dir is not None:
            write_mail(self.server.inbox_dir, mail)
        return "250 Message accepted for delivery"


class MailServer:
    """aiosmtpd on a loopback port: ``security`` none, starttls (STARTTLS required before MAIL) or tls (implicit,
    465-style); ``users`` enables AUTH PLAIN/LOGIN (only over TLS). Use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 security: Literal["none", "starttls", "tls"] = "none", tls_cert: Path | None = None,
                 tls_key: Path | None = None, users: Mapping[str, str] | None = None,
                 inbox_dir: Path | None = None) -> None:
        if security != "none" and (tls_cert is None or tls_key is None):
            raise ValueError("STARTTLS and implicit TLS need tls_cert and tls_key")
        self.host = host
        self.port = port or free_port(host)
        self.security = security
        self.users = dict(users or {})
        self.inbox_dir = inbox_dir
        self.lock = threading.Lock()
        self.mails: list[ReceivedMail] = []
        self.refuse_recipients: dict[str, str] = {}  # address -> SMTP reply, e.g. "550 5.1.1 no such user"
        self.data_replies: deque[str] = deque()  # the next answers to DATA, e.g. "451 4.3.0 try again later"
        context = None
        if security != "none":
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(tls_cert), str(tls_key))
        kwargs: dict[str, Any] = {"hostname": host, "port": self.port, "server_hostname": "inbox.localhost",
                                  "ready_timeout": 10.0}
        if security == "tls":
            kwargs["ssl_context"] = context
        elif security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        if self.users:
            # aiosmtpd counts only STARTTLS as TLS for AUTH; an implicit-TLS session is encrypted from the start.
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=security == "starttls")
        self._controller = _Controller(_MailHandler(self), **kwargs)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    def start(self) -> MailServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def received(self) -> list[ReceivedMail]:
        with self.lock:
            return list(self.mails)


# -- files a person reads -------------------------------------------------------------------------------------------

_inbox_lock = threading.Lock()
_sequence = iter(range(1, 1 << 62))


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")[:40] or "message"


def _stem(inbox_dir: Path, what: str) -> Path:
    inbox_dir.mkdir(parents=True, exist_ok=True)
    moment = datetime.now(UTC)
    with _inbox_lock:
        number = next(_sequence)
    return inbox_dir / f"{moment:%Y%m%d-%H%M%S}-{number:04d}-{_slug(what)}"


def _index(inbox_dir: Path, channel: str, headline: str, file: Path) -> None:
    line = f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}  {channel:<13} {headline}  ({file.name})\n"
    with _inbox_lock, (inbox_dir / "index.txt").open("a", encoding="utf-8") as handle:
        handle.write(line)


def channel_of(path: str) -> str:
    """The channel a demo path belongs to (/slack/..., /pagerduty/..., /api/v2/alerts...)."""
    first = path.strip("/").split("/")[0] or "http"
    return "alertmanager" if path.startswith("/api/v2/alerts") else first


def headline_of(body: Any) -> str:
    """The line a person would read first in a chat or event payload."""
    if isinstance(body, Mapping):
        for path in (("text",), ("content",), ("payload", "summary"), ("Body",), ("attachments", 0, "content",
                                                                                  "body", 0, "text")):
            value: Any = body
            for part in path:
                try:
                    value = value[part]
                except (KeyError, IndexError, TypeError):
                    value = None
                    break
            if isinstance(value, str) and value:
                return value.splitlines()[0]
        if body.get("version") == "4" and isinstance(body.get("alerts"), list):
            names = sorted({a.get("labels", {}).get("alertname", "?") for a in body["alerts"]})
            return f"[{str(body.get('status', '')).upper()}:{len(body['alerts'])}] {', '.join(names)}"
    if isinstance(body, list):
        return f"{len(body)} alerts: " + ", ".join(str(a.get("labels", {}).get("alertname", "?")) for a in body[:5]
                                                   if isinstance(a, Mapping))
    return ""


def write_http_message(inbox_dir: Path, request: ReceivedRequest) -> Path:
    content_type = request.headers.get("content-type", "")
    body: Any
    if "json" in content_type:
        try:
            body = request.json()
        except ValueError:
            body = request.body.decode("utf-8", "replace")
    elif "x-www-form-urlencoded" in content_type:
        body = request.form()
    else:
        body = request.body.decode("utf-8", "replace")
    channel = channel_of(request.path)
    file = _stem(inbox_dir, channel).with_suffix(".json")
    headers = {k: v for k, v in request.headers.items() if k not in _PRIVATE_HEADERS}
    file.write_text(json.dumps({"method": request.method, "path": request.path, "headers": headers, "body": body},
                               indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _index(inbox_dir, channel, headline_of(body), file)
    return file


def write_mail(inbox_dir: Path, mail: ReceivedMail) -> Path:
    subject = str(mail.message.get("Subject", ""))
    file = _stem(inbox_dir, "email").with_suffix(".eml")
    file.write_bytes(mail.data)
    _index(inbox_dir, "email", f"{subject}  (to {', '.join(mail.rcpt_tos)})", file)
    return file


# What the demo's inbox answers, per channel, like the real services do.
DEMO_REPLIES: dict[str, Reply] = {
    "/slack/": Reply(200, "ok"),
    "/discord/": Reply(200, '{"id": "1", "type": 0}').json(),
    "/teams/": Reply(202, ""),
    "/pagerduty/": Reply(202, '{"status": "success", "message": "Event processed"}').json(),
    "/twilio/": Reply(201, '{"sid": "SM00000000000000000000000000000000", "status": "queued"}').json(),
    "/webhook/": Reply(200, "ok"),
}


@dataclass
class LocalInbox:
    """The demo's inbox: the recording receiver and a plain SMTP server writing under ``directory``."""

    directory: Path
    host: str = "127.0.0.1"
    http_port: int = 0
    smtp_port: int = 0
    receiver: RecordingReceiver = field(init=False)
    mail: MailServer = field(init=False)

    def __post_init__(self) -> None:
        self.receiver = RecordingReceiver(self.host, self.http_port, inbox_dir=self.directory)
        for prefix, reply in DEMO_REPLIES.items():
            self.receiver.default(prefix, reply)
        self.mail = MailServer(self.host, self.smtp_port, inbox_dir=self.directory)

    def start(self) -> LocalInbox:
        self.receiver.start()
        try:
            self.mail.start()
        except Exception:
            self.receiver.stop()
            raise
        return self

    def stop(self) -> None:
        self.mail.stop()
        self.receiver.stop()

    def __enter__(self) -> LocalInbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The variables the demo's receivers name (config/alerting.demo.yaml)."""
        base = self.receiver.url
        return {
            "DEMO_INBOX_URL": base,
            "DEMO_SMTP_HOST": self.host,
            "DEMO_SMTP_PORT": str(self.mail.port),
            "DEMO_SLACK_WEBHOOK_URL": f"{base}/slack/demo-ops",
            "DEMO_DISCORD_WEBHOOK_URL": f"{base}/discord/demo-ops",
            "DEMO_TEAMS_WEBHOOK_URL": f"{base}/teams/demo-ops",
            "DEMO_PAGERDUTY_ROUTING_KEY": "demo-routing-key",
            "DEMO_TWILIO_AUTH_TOKEN": "demo-twilio-token",
            "DEMO_WEBHOOK_SECRET": "demo-webhook-secret",
        }
