# -*- coding: utf-8 -*-
# Copyright: runbook.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transports of the notifications: one HTTP POST of JSON, one SMTP message (standard library).

Each call makes one attempt and raises :class:`SendError` when it did not get through; the error
says whether trying again can help (``retryable``) and how long the receiver asked to wait
(``retry_after``, from a 429's or 503's Retry-After). Nothing here knows what an alert is.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type  # pylint: disable=invalid-name

import datetime
import email.message
import email.utils
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from typing import Any, Dict, Mapping, Optional, Sequence

BODY_LIMIT = 65536


class SendError(Exception):
    """A send that did not get through: ``status`` (HTTP code or None), ``retryable``, ``retry_after``."""

    def __init__(self, message: str, status: Optional[int] = None, retryable: bool = False,
                 retry_after: Optional[float] = None):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Retry-After as seconds: a number, or an HTTP date (seconds from now, at least 0)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = datetime.datetime.now(when.tzinfo or datetime.timezone.utc)
    return max(0.0, (when - now).total_seconds())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A notification never follows a redirect (it would carry the token somewhere else)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 - urllib's hook
        return None


def post_json(url: str, data: bytes, headers: Mapping[str, str], timeout: float,
              context: Optional[ssl.SSLContext] = None) -> Dict[str, Any]:
    """POST ``data`` to ``url``; returns ``{"status", "headers", "body", "json"}`` for a 2xx answer.

    Any other answer raises :class:`SendError`: 429 and 5xx are retryable (with Retry-After when
    given), other 4xx are not (the request itself is wrong: an invalid event, a bad token);
    refused connections and timeouts are retryable.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise SendError("the URL must start with http:// or https://")
    request = urllib.request.Request(url, data=data, method="POST", headers=dict(headers))
    handlers = [_NoRedirect()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(request, timeout=timeout) as answer:
            body = answer.read(BODY_LIMIT)
            return _answer(answer.status, dict(answer.headers), body)
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(BODY_LIMIT)
        except (OSError, ValueError):
            body = b""
        parsed = _answer(exc.code, dict(exc.headers or {}), body)
        retry_after = parse_retry_after((exc.headers or {}).get("Retry-After"))
        retryable = exc.code == 429 or exc.code >= 500
        raise SendError("HTTP %d%s" % (exc.code, _detail(parsed)), status=exc.code, retryable=retryable,
                        retry_after=retry_after) from None
    except urllib.error.URLError as exc:
        raise SendError("cannot reach the receiver: %s" % _reason(exc.reason), retryable=True) from None
    except (socket.timeout, TimeoutError):
        raise SendError("no answer within %ss" % timeout, retryable=True) from None
    except (OSError, ValueError) as exc:
        raise SendError("cannot reach the receiver: %s" % _reason(exc), retryable=True) from None


def _reason(reason: Any) -> str:
    return " ".join(str(reason).split())[:200]


def _answer(status: int, headers: Dict[str, str], body: bytes) -> Dict[str, Any]:
    text = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    return {"status": status, "headers": {k.lower(): v for k, v in headers.items()}, "body": text, "json": parsed}


def _detail(answer: Mapping[str, Any]) -> str:
    """What the receiver said, short: PagerDuty's message and errors, Slack's error, or the text."""
    data = answer.get("json")
    if isinstance(data, dict):
        bits = [str(data[k]) for k in ("status", "message", "error") if data.get(k)]
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            bits.append("; ".join(str(e) for e in errors[:5]))
        if bits:
            return ": " + " ".join(" - ".join(bits).split())[:300]
    text = " ".join(str(answer.get("body") or "").split())
    return (": " + text[:200]) if text else ""


def send_mail(host: str, port: int, sender: str, recipients: Sequence[str], subject: str, text: str,
              timeout: float, username: Optional[str] = None, password: Optional[str] = None,
              starttls: bool = True, context: Optional[ssl.SSLContext] = None) -> None:
    """One plain-text message over SMTP, upgraded with STARTTLS (required when ``starttls``), then AUTH."""
    message = email.message.EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain="runbook.ops")
    message.set_content(text)
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.ehlo()
            if starttls:
                if not smtp.has_extn("starttls"):
                    raise SendError("the SMTP server %s:%s does not offer STARTTLS" % (host, port))
                smtp.starttls(context=context or ssl.create_default_context())
                smtp.ehlo()
            if username:
                smtp.login(username, password or "")
            refused = smtp.send_message(message, from_addr=sender, to_addrs=list(recipients))
            if refused:
                raise SendError("the SMTP server refused %s" % ", ".join(sorted(refused)))
    except SendError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError("SMTP authentication failed (%s)" % exc.smtp_code) from None
    except smtplib.SMTPResponseException as exc:
        raise SendError("SMTP error %s: %s" % (exc.smtp_code, _reason(exc.smtp_error)),
                        retryable=400 <= int(exc.smtp_code) < 500) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendError("the SMTP server refused %s" % ", ".join(sorted(exc.recipients))) from None
    except ssl.SSLError as exc:
        raise SendError("TLS with the SMTP server failed: %s" % _reason(exc)) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SendError("cannot send through %s:%s: %s" % (host, port, _reason(exc)), retryable=True) from None
