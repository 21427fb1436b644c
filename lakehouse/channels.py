"""Where alerts go: channels named by rules, configured outside the lakehouse, and the one adapter
that sends to them.

A channel is a name and a URL, with a secret for a webhook. Names come from the environment
(`MLGOV_CHANNEL_<NAME>=<url>`, `MLGOV_CHANNEL_<NAME>_SECRET=<secret>`) or from `.streamlit/secrets.toml`
(`[channels.<name>]` with `url` and `secret`); the environment wins. The lakehouse holds only the
names, so a copy of it, an evidence pack or a SQL console never carries a token.

* `http://` and `https://` URLs are signed webhooks: a POST of the alert as JSON, signed as MLflow's
  registry webhooks are (HMAC-SHA256, `v1,<base64>`, over `<delivery id>.<timestamp>.<body>`), under
  mlgov's own header names. The delivery id is the alert id, the same on every retry.
* Any other URL goes through apprise (`slack://`, `msteams://` or `workflows://`, `mailto://` or
  `mailtos://` for SMTP, ...), whose clients are kept up to date by that project, not here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from governance.alerts import channel_name_problem
from governance.errors import InputError, NotFoundError

ENV_PREFIX = "MLGOV_CHANNEL_"
SECRET_SUFFIX = "_SECRET"  # noqa: S105 (the suffix of a variable name, not a secret)
SIGNATURE_HEADER = "X-Mlgov-Signature"
TIMESTAMP_HEADER = "X-Mlgov-Timestamp"
DELIVERY_ID_HEADER = "X-Mlgov-Delivery-Id"
SIGNATURE_VERSION = "v1"


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    APPRISE = "apprise"


@dataclass(frozen=True)
class ChannelConfig:
    """One channel as configured; its URL and secret never appear in a repr, a log or a table."""

    name: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> ChannelKind:
        scheme = urlsplit(self.url).scheme.lower()
        return ChannelKind.WEBHOOK if scheme in ("http", "https") else ChannelKind.APPRISE

    @property
    def where(self) -> str:
        """The channel's kind and host, safe to show (no path, token or password)."""
        parts = urlsplit(self.url)
        host = parts.hostname or parts.scheme
        return f"{self.kind.value} {parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def load_channels(environ: Mapping[str, str], *, secrets: Mapping[str, Any]) -> dict[str, ChannelConfig]:
    """The channels named in `environ` and in the `[channels]` table of secrets.toml (`secrets`).
    Nothing is checked here: a channel's problems are reported when it is used (`check_channel`)."""
    found: dict[str, ChannelConfig] = {}
    table = secrets.get("channels") if isinstance(secrets.get("channels"), Mapping) else {}
    for name, entry in (table or {}).items():
        if isinstance(entry, Mapping) and entry.get("url"):
            secret = entry.get("secret")
            found[str(name).lower()] = ChannelConfig(
                str(name).lower(), str(entry["url"]), str(secret) if secret else None
            )
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key.endswith(SECRET_SUFFIX) or not value.strip():
            continue
        name = key.removeprefix(ENV_PREFIX).lower()
        secret = environ.get(f"{key}{SECRET_SUFFIX}") or (found[name].secret if name in found else None)
        found[name] = ChannelConfig(name, value.strip(), secret)
    return found


def check_channel(config: ChannelConfig) -> None:
    """Raise InputError naming what is wrong with a channel's configuration: its name, a webhook URL
    that is not an http(s) address with a host, a webhook without a secret to sign with, a URL apprise
    does not take."""
    problem = channel_name_problem(config.name)
    if problem:
        raise InputError(problem)
    variable = f"{ENV_PREFIX}{config.name.upper()}"
    if config.kind is ChannelKind.WEBHOOK:
        parts = urlsplit(config.url)
        try:
            port_ok = parts.port is None or 0 < parts.port < 65536
        except ValueError:
            port_ok = False
        if not parts.hostname or not port_ok or any(c.isspace() for c in config.url):
            raise InputError(
                f"channel {config.name}: {variable} is not a valid webhook URL: expected http(s)://host[:port]/path"
            )
        if not config.secret:
            raise InputError(
                f"channel {config.name} is a webhook and has no secret to sign with: set {variable}{SECRET_SUFFIX} "
                f"(or secret in [channels.{config.name}] of .streamlit/secrets.toml)"
            )
        return
    import apprise  # imported when a channel is used: commands that send nothing do not pay for it

    if apprise.Apprise.instantiate(config.url) is None:
        raise InputError(
            f"channel {config.name}: {variable} is not a URL apprise can send to "
            "(expected e.g. slack://..., msteams://..., mailto://... or an http(s) webhook)"
        )


@dataclass(frozen=True)
class Message:
    """What is sent: a title and text for people, the JSON document for machines, and the id that
    stays the same on every retry (receivers deduplicate by it)."""

    delivery_id: str
    title: str
    text: str
    document: Mapping[str, object]


@dataclass(frozen=True)
class SendOutcome:
    delivered: bool
    detail: str  # the receiver's answer or what went wrong, in one line


def signature(secret: str, *, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: `v1,` and the base64 of HMAC-SHA256 over `<id>.<timestamp>.<body>`."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify_signature(secret: str, *, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether a received webhook carries a valid signature (what a receiver does, in constant time)."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        expected = signature(
            secret,
            delivery_id=lower[DELIVERY_ID_HEADER.lower()],
            timestamp=lower[TIMESTAMP_HEADER.lower()],
            body=body,
        )
        return hmac.compare_digest(expected, lower[SIGNATURE_HEADER.lower()])
    except KeyError:
        return False


class Sender:
    """Sends messages to the configured channels, one attempt per call, each bounded by `timeout`."""

    def __init__(self, channels: Mapping[str, ChannelConfig], *, timeout: float) -> None:
        self._channels = dict(channels)
        self._timeout = timeout

    def config(self, name: str) -> ChannelConfig:
        """The channel `name`, checked; NotFoundError naming the configured ones when there is none."""
        config = self._channels.get(name)
        if config is None:
            known = ", ".join(sorted(self._channels)) or "none"
            raise NotFoundError(
                f"unknown channel {name!r}: configured channels are {known} "
                f"(set {ENV_PREFIX}{name.upper()} or [channels.{name}] in .streamlit/secrets.toml)"
            )
        check_channel(config)
        return config

    def send(self, name: str, message: Message, *, unix_time: int) -> SendOutcome:
        """One attempt to deliver `message` to channel `name`; never raises for the receiver's failures."""
        try:
            config = self.config(name)
        except (InputError, NotFoundError) as problem:
            return SendOutcome(delivered=False, detail=str(problem))
        if config.kind is ChannelKind.WEBHOOK:
            return self._post(config, message, unix_time=unix_time)
        return self._apprise(config, message)

    def _post(self, config: ChannelConfig, message: Message, *, unix_time: int) -> SendOutcome:
        import httpx

        body = json.dumps(message.document, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
        timestamp = str(unix_time)
        headers = {
            "Content-Type": "application/json",
            DELIVERY_ID_HEADER: message.delivery_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(
                config.secret or "", delivery_id=message.delivery_id, timestamp=timestamp, body=body
            ),
        }
        try:
            response = httpx.post(config.url, content=body, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            return SendOutcome(delivered=False, detail=f"no answer from {config.where} within {self._timeout:g}s")
        except httpx.HTTPError as error:
            return SendOutcome(delivered=False, detail=f"{config.where}: {type(error).__name__}")
        if 200 <= response.status_code < 300:
            return SendOutcome(delivered=True, detail=f"HTTP {response.status_code}")
        return SendOutcome(delivered=False, detail=f"{config.where} answered HTTP {response.status_code}")

    def _apprise(self, config: ChannelConfig, message: Message) -> SendOutcome:
        import apprise

        notifier = apprise.Apprise()
        notifier.add(_with_timeouts(config.url, self._timeout))
        with apprise.LogCapture(level=logging.WARNING) as log:
            sent = bool(notifier.notify(body=message.text, title=message.title))
        if sent:
            return SendOutcome(delivered=True, detail=f"sent through {config.where}")
        lines = [line for line in log.getvalue().splitlines() if line.strip()]
        reason = lines[-1].split(" - ", 2)[-1] if lines else "apprise reported a failure"
        return SendOutcome(delivered=False, detail=f"{config.where}: {reason}"[:300])


def _with_timeouts(url: str, timeout: float) -> str:
    """`url` with apprise's connect and read timeouts set (unless it sets them), and its own retries off:
    retrying, with backoff, is ours, and each attempt is recorded."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault("cto", f"{timeout:g}")
    query.setdefault("rto", f"{timeout:g}")
    query["retry"] = "0"
    return urlunsplit(parts._replace(query=urlencode(query)))
