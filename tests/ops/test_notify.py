"""Notifications: filters, console, and Telegram against a real local endpoint.

The endpoint is an HTTP server on 127.0.0.1, scripted per request (200, 429
with retry_after, 500, held or slow) and recording each request with the time
on the test's ManualClock, so pacing and retry waits are measured on the clock.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kit import logsafe
from kit.clock import IST, ManualClock
from kit.config import Settings
from kit.ops.events import ActivityEvent, EventKind, Severity
from kit.ops.notify import (
    ConsoleChannel,
    DeliveryError,
    DeliveryFailure,
    Notification,
    Notifier,
    RetryPolicy,
    TelegramChannel,
)

TOKEN = "123456789:AAH-notify_TestToken_0123456789abcdefXYZ"
CHAT_ID = "-1001234567"
START = datetime(2024, 6, 3, 10, 15, tzinfo=IST)


# A scripted Bot API endpoint.


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] = field(
        default_factory=lambda: {"ok": True, "result": {"message_id": 1}}
    )
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # answer only once this is set
    delay_real_s: float = 0.0  # a slow endpoint


@dataclass(frozen=True)
class Received:
    path: str
    body: dict[str, Any]
    at_s: float  # clock.monotonic() when the request arrived

    @property
    def text(self) -> str:
        return str(self.body["text"])


class Endpoint:
    """An HTTP server in a thread that answers from a script, then ``default``."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.received: list[Received] = []
        self.script: deque[Reply] = deque()
        self.default = Reply()
        self.on_request: Callable[[Received], None] | None = None
        self.release = threading.Event()
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def wait_for(self, count: int, timeout_real_s: float = 5.0) -> list[Received]:
        with self._cond:
            arrived = self._cond.wait_for(
                lambda: len(self.received) >= count, timeout_real_s
            )
            assert arrived, f"{len(self.received)} of {count} requests arrived"
            return list(self.received)

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(2)

    def _record(self, path: str, raw: bytes) -> Reply:
        received = Received(path, json.loads(raw), self.clock.monotonic())
        with self._cond:
            self.received.append(received)
            reply = self.script.popleft() if self.script else self.default
            self._cond.notify_all()
        if self.on_request is not None:
            self.on_request(received)
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                reply = endpoint._record(self.path, raw)
                if reply.hold is not None:
                    reply.hold.wait(10)
                if reply.delay_real_s:
                    endpoint.release.wait(reply.delay_real_s)
                payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up (a read timeout)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class Recorder:
    """A channel that keeps what it is sent, in memory."""

    min_interval_s = 0.0

    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.closed = False

    def send(self, message: Notification) -> None:
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START, auto_advance=True)


@pytest.fixture
def endpoint(clock: ManualClock) -> Iterator[Endpoint]:
    server = Endpoint(clock)
    yield server
    server.close()


def event(
    text: str = "SBIN-EQ silent for 120 s",
    *,
    kind: str = EventKind.FEED_STALE,
    severity: Severity = Severity.WARNING,
    at: datetime = START,
) -> ActivityEvent:
    return ActivityEvent(at, kind, severity, text)


def telegram(endpoint: Endpoint, **kwargs: Any) -> TelegramChannel:
    return TelegramChannel(TOKEN, CHAT_ID, api_url=endpoint.url, **kwargs)


def times(received: list[Received]) -> list[float]:
    return [r.at_s for r in received]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Which events notify.


def test_events_below_the_minimum_severity_are_not_queued(clock: ManualClock) -> None:
    recorder = Recorder()
    notifier = Notifier([recorder], clock=clock)  # warning by default

    assert notifier.notify(event("ok", severity=Severity.INFO)) is False
    assert notifier.notify(event("warn", severity=Severity.WARNING)) is True
    assert notifier(event("bad", severity=Severity.CRITICAL)) is True
    notifier.drain()

    assert [m.event.text for m in recorder.sent] == ["warn", "bad"]


def test_allow_and_deny_kind_lists_choose_events(clock: ManualClock) -> None:
    recorder = Recorder()
    notifier = Notifier(
        [recorder],
        clock=clock,
        min_severity="info",
        kinds={EventKind.FEED_STALE, EventKind.ORDER_REJECTED},
        exclude_kinds={EventKind.ORDER_REJECTED},
    )

    assert notifier.notify(event(kind=EventKind.FEED_STALE)) is True
    assert notifier.notify(event(kind=EventKind.ORDER_REJECTED)) is False
    assert notifier.notify(event(kind=EventKind.API_FAILED)) is False


def test_notify_never_raises_into_the_caller(clock: ManualClock) -> None:
    notifier = Notifier([Recorder()], clock=clock)

    assert notifier.notify(None) is False  # type: ignore[arg-type]


# The console.


def test_console_writes_one_plain_line_per_event(clock: ManualClock) -> None:
    stream = io.StringIO()
    notifier = Notifier([ConsoleChannel(stream)], clock=clock)
    first = event("feed silent", kind=EventKind.FEED_STALE)
    second = event(
        "order refused", kind=EventKind.ORDER_REJECTED, severity=Severity.ERROR
    )

    notifier.notify(first)
    notifier.notify(second)
    notifier.drain()

    lines = stream.getvalue().splitlines()
    assert lines == [first.line(), second.line()]
    assert lines[1] == "2024-06-03 10:15:00 ERROR    order_rejected: order refused"
    assert stream.getvalue().isascii()  # no status symbols in a console line


def test_console_through_a_logger_uses_the_severity_as_level(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    target = logging.getLogger("tests.notify.console")
    notifier = Notifier([ConsoleChannel(to_logger=target)], clock=clock)
    caplog.set_level(logging.INFO, logger=target.name)

    notifier.notify(event("margin short", severity=Severity.CRITICAL))
    notifier.drain()

    (record,) = [r for r in caplog.records if r.name == target.name]
    assert record.levelno == logging.CRITICAL
    assert record.getMessage().endswith("feed_stale: margin short")


def test_a_started_worker_delivers_without_the_caller_waiting() -> None:
    clock = ManualClock(START)
    stream = io.StringIO()
    notifier = Notifier([ConsoleChannel(stream)], clock=clock).start()

    notifier.notify(event("one"))
    notifier.notify(event("two"))

    assert notifier.wait_idle(timeout_real_s=5)
    assert [line.split(": ", 1)[1] for line in stream.getvalue().splitlines()] == [
        "one",
        "two",
    ]
    assert notifier.stop(timeout_s=2) is True
    assert notifier.stop() is True  # idempotent


# Telegram: the request and the message.


def test_telegram_posts_send_message_with_chat_id_and_text(
    clock: ManualClock, endpoint: Endpoint
) -> None:
    notifier = Notifier([telegram(endpoint)], clock=clock)
    notifier.notify(
        event("Token expires in 55 min", kind=EventKind.TOKEN_EXPIRY_WARNING)
    )

    assert notifier.drain() == 1

    (request,) = endpoint.received
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.body["chat_id"] == CHAT_ID
    assert request.text.splitlines() == [
        "\u26a0\ufe0f WARNING \u00b7 token_expiry_warning",
        "Token expires in 55 min",
        "2024-06-03 10:15:00 IST",
        "\U0001f527 Action needed",
    ]
    assert notifier.stats()["telegram"].sent == 1


def test_message_time_is_shown_in_ist(clock: ManualClock, endpoint: Endpoint) -> None:
    utc_noon = datetime.fromisoformat("2024-06-03T06:30:00+00:00")
    notifier = Notifier([telegram(endpoint)], clock=clock)
    notifier.notify(event("x", at=utc_noon))
    notifier.drain()

    assert "2024-06-03 12:00:00 IST" in endpoint.received[0].text


# Flood control.


def test_distinct_messages_are_sent_at_least_a_second_apart(
    clock: ManualClock, endpoint: Endpoint
) -> None:
    notifier = Notifier([telegram(endpoint)], clock=clock)
    for n in range(5):
        notifier.notify(event(f"symbol {n} silent"))

    notifier.drain()

    received = endpoint.wait_for(5)
    assert [r.text.splitlines()[1] for r in received] == [
        f"symbol {n} silent" for n in range(5)
    ]
    assert times(received) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_worker_waits_on_the_clock_between_sends(endpoint: Endpoint) -> None:
    clock = ManualClock(START)  # moves only when the test says
    endpoint.clock = clock
    notifier = Notifier([telegram(endpoint)], clock=clock)
    notifier.notify(event("first"))
    notifier.notify(event("second"))
    notifier.start()

    endpoint.wait_for(1)
    clock.wait_for_sleepers(1)  # the worker waits for its next slot
    clock.advance(0.5)
    clock.wait_for_sleepers(1)
    assert len(endpoint.received) == 1

    clock.advance(0.5)
    received = endpoint.wait_for(2)
    assert times(received) == [0.0, 1.0]
    assert notifier.stop(timeout_s=2) is True


def test_duplicates_queued_together_become_one_message_with_a_count(
    clock: ManualClock, endpoint: Endpoint
) -> None:
    notifier = Notifier([telegram(endpoint)], clock=clock)
    later = datetime(2024, 6, 3, 10, 15, 9, tzinfo=IST)
    notifier.notify(event("SBIN-EQ silent"))
    notifier.notify(event("INFY-EQ silent"))
    notifier.notify(event("SBIN-EQ silent", severity=Severity.ERROR))
    notifier.notify(event("SBIN-EQ silent", at=later))

    notifier.drain()

    first, second = endpoint.received
    assert first.text.splitlines() == [
        "\u274c ERROR \u00b7 feed_stale",  # the highest severity of the three
        "SBIN-EQ silent (x3)",
        "2024-06-03 10:15:00 IST (last 10:15:09)",
    ]
    assert second.text.splitlines()[1] == "INFY-EQ silent"
    stats = notifier.stats()["telegram"]
    assert (stats.sent, stats.coalesced) == (2, 2)


def test_a_twin_arriving_during_a_failed_send_joins_the_retry(
    clock: ManualClock, endpoint: Endpoint
) -> None:
    notifier = Notifier([telegram(endpoint)], clock=clock)
    endpoint.answer(Reply(status=500))
    twins = [event("store slow")]

    def send_a_twin(_: Received) -> None:  # while the first send is in flight
        if twins:
            notifier.notify(twins.pop())

    endpoint.on_request = send_a_twin
    notifier.notify(event("store slow"))

    notifier.drain()

    first, second = endpoint.received
    assert first.text.splitlines()[1] == "store slow"
    assert second.text.splitlines()[1] == "store slow (x2)"
    assert notifier.stats()["telegram"].sent == 1


def test_a_full_queue_drops_the_oldest_least_severe_message(
    clock: ManualClock,
) -> None:
    recorder = Recorder()
    notifier = Notifier([recorder], clock=clock, min_severity="info", max_queued=3)
    sent = [
        ("a", Severity.WARNING),
        ("b", Severity.ERROR),
        ("c", Severity.WARNING),
        ("d", Severity.ERROR),  # drops a: the oldest warning
        ("e", Severity.WARNING),  # drops c
        ("f", Severity.INFO),  # less severe than all queued: dropped itself
    ]
    for text, severity in sent:
        assert notifier.notify(event(text, severity=severity)) is True

    notifier.drain()

    assert [m.event.text for m in recorder.sent] == ["b", "d", "e"]
    assert notifier.stats()["recorder"].dropped == 3


def test_overflow_never_blocks_the_caller_while_the_endpoint_is_stuck(
    endpoint: Endpoint,
) -> None:
    clock = ManualClock(START)
    endpoint.default = Reply(hold=endpoint.release)
    notifier = Notifier([telegram(endpoint)], clock=clock, max_queued=10).start()
    notifier.notify(event("first"))
    endpoint.wait_for(1)  # the worker is now stuck in its request

    started = time.monotonic()
    queued = [notifier.notify(event(f"event {n}")) for n in range(2000)]
    elapsed_s = time.monotonic() - started

    assert all(queued)
    assert elapsed_s < 2.0
    stats = notifier.stats()["telegram"]
    assert (stats.queued, stats.dropped) == (10, 1990)
    endpoint.release.set()
    notifier.stop(timeout_s=0.2)


# Retries and failures.


def test_429_waits_retry_after_before_sending_again(
    clock: ManualClock, endpoint: Endpoint
) -> None:
    endpoint.answer(
        Reply(
            status=429,
            body={
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            },
        )
    )
    notifier = Notifier([telegram(endpoint)], clock=clock)
    notifier.notify(event("first"))
    notifier.notify(event("second"))

    notifier.drain()

    received = endpoint.received
    assert [r.text.splitlines()[1] for r in received] == ["first", "first", "second"]
    assert times(received) == [0.0, 7.0, 8.0]
    stats = notifier.stats()["telegram"]
    assert (stats.sent, stats.retried, stats.failed) == (2, 1, 0)


def test_429_retry_after_header_is_honoured_without_parameters(
    clock: ManualClock, endpoint: Endpoint
) -> None:
    endpoint.answer(Reply(status=429, body={"ok": False}, headers={"Retry-After": "3"}))
    notifier = Notifier([telegram(endpoint)], clock=clock)
    notifier.notify(event())

    notifier.drain()

    assert times(endpoint.received) == [0.0, 3.0]


def test_server_errors_are_retried_with_backoff_then_reported(
    clock: ManualClock, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.default = Reply(status=500, body={"ok": False, "description": "down"})
    failures: list[DeliveryFailure] = []
    notifier = Notifier([telegram(endpoint)], clock=clock, on_failure=failures.append)
    notifier.notify(event("feed gave up", kind=EventKind.FEED_GAVE_UP))

    with caplog.at_level(logging.INFO, logger="kit.ops"):
        notifier.drain()

    assert times(endpoint.received) == [0.0, 1.0, 3.0, 7.0]  # waits 1, 2, 4 s
    (failure,) = failures
    assert failure.channel == "telegram"
    assert failure.kind == EventKind.FEED_GAVE_UP
    assert (failure.attempts, failure.status) == (4, 500)
    assert failure.reason == "HTTP 500 down"
    gave_up = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(gave_up) == 1 and gave_up[0].levelno == logging.WARNING
    assert "\n" not in gave_up[0].getMessage()
    stats = notifier.stats()["telegram"]
    assert (stats.sent, stats.retried, stats.failed) == (0, 3, 1)


def test_a_refusal_is_not_retried(clock: ManualClock, endpoint: Endpoint) -> None:
    endpoint.answer(
        Reply(
            status=400, body={"ok": False, "description": "Bad Request: chat not found"}
        )
    )
    failures: list[DeliveryFailure] = []
    notifier = Notifier([telegram(endpoint)], clock=clock, on_failure=failures.append)
    notifier.notify(event())

    notifier.drain()

    assert len(endpoint.received) == 1
    assert failures[0].reason == "HTTP 400 Bad Request: chat not found"
    assert failures[0].attempts == 1


def test_a_read_timeout_is_retried(clock: ManualClock, endpoint: Endpoint) -> None:
    endpoint.answer(Reply(delay_real_s=1.0))
    channel = telegram(endpoint, read_timeout_s=0.1)
    notifier = Notifier([channel], clock=clock)
    notifier.notify(event())

    notifier.drain()

    assert times(endpoint.received) == [0.0, 1.0]
    stats = notifier.stats()["telegram"]
    assert (stats.sent, stats.retried) == (1, 1)


def test_a_refused_connection_is_retried_then_reported(clock: ManualClock) -> None:
    channel = TelegramChannel(
        TOKEN, CHAT_ID, api_url=f"http://127.0.0.1:{closed_port()}"
    )
    failures: list[DeliveryFailure] = []
    retry = RetryPolicy(max_attempts=3)
    notifier = Notifier([channel], clock=clock, retry=retry, on_failure=failures.append)
    notifier.notify(event())

    notifier.drain()

    (failure,) = failures
    assert failure.attempts == 3
    assert failure.reason.startswith("connection failed")
    assert clock.monotonic() == 3.0  # waited 1 s, then 2 s


def test_a_failure_report_does_not_loop_back_into_itself(
    clock: ManualClock, endpoint: Endpoint
) -> None:
    endpoint.default = Reply(status=502, body={"ok": False})
    reports: list[DeliveryFailure] = []
    notifier: Notifier

    def on_failure(failure: DeliveryFailure) -> None:
        reports.append(failure)
        if len(reports) < 5:  # ends the test, not an endless loop, if it loops
            notifier.notify(failure.to_event(clock.now()))

    retry = RetryPolicy(max_attempts=2)
    notifier = Notifier(
        [telegram(endpoint)], clock=clock, retry=retry, on_failure=on_failure
    )
    notifier.notify(event())

    notifier.drain()

    assert len(reports) == 1
    assert len(endpoint.received) == 4  # the event twice, then its report twice
    assert "notification_failed" in endpoint.received[2].text
    assert notifier.stats()["telegram"].failed == 2


def test_an_on_failure_that_raises_is_logged_not_raised(
    clock: ManualClock, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.default = Reply(status=403, body={"ok": False})

    def on_failure(failure: DeliveryFailure) -> None:
        raise RuntimeError("store down")

    notifier = Notifier([telegram(endpoint)], clock=clock, on_failure=on_failure)
    notifier.notify(event())

    notifier.drain()

    assert any("on_failure raised" in r.getMessage() for r in caplog.records)


def test_a_channel_that_crashes_counts_a_failure(clock: ManualClock) -> None:
    class Broken(Recorder):
        def send(self, message: Notification) -> None:
            raise RuntimeError("bug")

    failures: list[DeliveryFailure] = []
    notifier = Notifier([Broken("broken")], clock=clock, on_failure=failures.append)
    notifier.notify(event())

    notifier.drain()

    assert failures[0].reason == "RuntimeError: bug"
    assert notifier.stats()["broken"].failed == 1


# The bot token stays secret.


def test_the_token_is_in_no_log_line_error_report_or_repr(
    clock: ManualClock, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.answer(
        Reply(status=500, body={"ok": False, "description": f"no route /bot{TOKEN}"}),
        Reply(status=404, body={"ok": False, "description": f"Not Found: {TOKEN}"}),
    )
    refused = TelegramChannel(
        TOKEN, CHAT_ID, api_url=f"http://127.0.0.1:{closed_port()}"
    )
    reachable = telegram(endpoint)
    refused.name = "telegram-refused"
    logsafe.REGISTRY.forget(TOKEN)  # the module's own care, without the net
    failures: list[DeliveryFailure] = []
    notifier = Notifier(
        [refused, reachable],
        clock=clock,
        retry=RetryPolicy(max_attempts=2),
        on_failure=failures.append,
    )
    caplog.set_level(logging.DEBUG)
    notifier.notify(event())

    notifier.drain()

    assert len(failures) == 2
    seen = [
        caplog.text,
        *(r.getMessage() for r in caplog.records),
        *(f.reason for f in failures),
        repr(notifier),
        repr(refused),
        str(notifier.stats()),
    ]
    assert all(TOKEN not in text for text in seen)
    assert any("sendMessage" in r.getMessage() for r in caplog.records)  # masked
    assert f"HTTP 500 no route /bot{logsafe.MASK}" in caplog.text  # the retry line
    assert f"HTTP 404 Not Found: {logsafe.MASK}" in [f.reason for f in failures]


def test_a_failed_request_raises_an_error_with_no_trace_of_the_url() -> None:
    channel = TelegramChannel(
        TOKEN, CHAT_ID, api_url=f"http://127.0.0.1:{closed_port()}"
    )

    with pytest.raises(DeliveryError) as caught:
        channel.send(Notification(event()))

    error = caught.value
    assert error.retryable is True
    assert error.__cause__ is None and error.__context__ is None
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    channel.close()


# Stopping.


def test_stop_is_prompt_with_a_stuck_endpoint(endpoint: Endpoint) -> None:
    clock = ManualClock(START)
    endpoint.default = Reply(hold=endpoint.release)
    notifier = Notifier([telegram(endpoint)], clock=clock).start()
    for n in range(3):
        notifier.notify(event(f"event {n}"))
    endpoint.wait_for(1)

    started = time.monotonic()
    stopped = notifier.stop(timeout_s=0.3)
    elapsed_s = time.monotonic() - started

    assert stopped is False
    assert elapsed_s < 1.5
    assert notifier.stats()["telegram"].unsent == 2
    assert notifier.notify(event("after stop")) is False

    endpoint.release.set()  # the request ends; so does the worker
    deadline = time.monotonic() + 5
    while notifier.stop() is False and time.monotonic() < deadline:
        time.sleep(0.01)
    assert notifier.stop() is True


def test_stop_delivers_what_is_queued_within_its_deadline(
    clock: ManualClock, endpoint: Endpoint
) -> None:
    notifier = Notifier([telegram(endpoint)], clock=clock).start()
    for n in range(3):
        notifier.notify(event(f"event {n}"))

    assert notifier.stop(timeout_s=5) is True

    assert times(endpoint.received) == [0.0, 1.0, 2.0]
    assert notifier.stats()["telegram"].unsent == 0


def test_stop_without_workers_counts_the_queue_as_unsent(clock: ManualClock) -> None:
    recorder = Recorder()
    notifier = Notifier([recorder], clock=clock)
    notifier.notify(event())

    assert notifier.stop() is True

    assert notifier.stats()["recorder"].unsent == 1
    assert recorder.closed and recorder.sent == []


# From settings.


def test_from_settings_enables_telegram_only_with_token_and_chat_id(
    clock: ManualClock, endpoint: Endpoint
) -> None:
    plain = Notifier.from_settings(Settings(), clock)
    assert plain.channel_names == ["console"]
    assert plain.min_severity is Severity.WARNING

    settings = Settings(
        telegram_bot_token=TOKEN,
        telegram_chat_id=CHAT_ID,
        telegram_api_url=endpoint.url,
        notify_min_severity="error",
    )
    stream = io.StringIO()
    notifier = Notifier.from_settings(settings, clock, console_stream=stream)
    assert notifier.channel_names == ["console", "telegram"]
    assert TOKEN not in repr(notifier)

    notifier.notify(event("only a warning"))
    notifier.notify(event("an error", severity=Severity.ERROR))
    notifier.drain()

    (request,) = endpoint.received
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.text.splitlines()[1] == "an error"
    assert stream.getvalue().count("\n") == 1
