"""Settings: frozen, typed, checked before anything connects.

Sources, strongest first: keyword arguments, environment variables (``KIT_``
prefix, e.g. ``KIT_MODE=live``), a ``.env`` file in the working directory, a TOML
settings file (``load_settings(path)`` or ``KIT_SETTINGS_FILE``), the defaults
below. Unknown keys in the TOML file or ``KIT_`` variables are refused, so a typo
is an error rather than a silently ignored setting.

Secrets (API key, client code, MPIN, TOTP secret) are :class:`SecretStr`: their
repr and str are masked, :meth:`Settings.describe` shows only whether each is set,
and :meth:`Settings.secret_values` hands the raw values to the log filter that
masks them wherever they would appear. A contradictory or incomplete combination
raises :class:`~kit.errors.ConfigurationError` naming the field.
"""

from __future__ import annotations

import binascii
import contextvars
import os
import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import pyotp
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from kit.broker.routes import FEED_URL, REST_ROOT
from kit.errors import ConfigurationError

SECRET_FIELDS = ("api_key", "client_code", "mpin", "totp_secret")
OTHER_SECRET_FIELDS = ("telegram_bot_token",)  # secrets the broker does not need
DEFAULT_SYMBOLS = ("SBIN-EQ", "RELIANCE-EQ", "INFY-EQ", "TCS-EQ", "HDFCBANK-EQ")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

_toml_path: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "kit_settings_toml", default=None
)


class Settings(BaseSettings):
    """The kit's settings. Units are in the names; ranges are enforced.

    - ``mode``: ``paper`` (orders filled by the kit) or ``live`` (real orders).
    - ``broker``: ``simulator`` (the built-in Angel One simulator) or ``angel``.
    - ``api_key``, ``client_code``, ``mpin``, ``totp_secret``: Angel One
      credentials; required for ``broker=angel`` and for ``mode=live``.
    - ``rest_url``, ``feed_url``: Angel One's endpoints; https/wss only, except
      on loopback (the simulator).
    - ``symbols``: trading symbols as in the instrument master (``SBIN-EQ``).
    - ``connect_timeout_s``, ``read_timeout_s``: REST timeouts (read 7 s, as
      Angel One's own client); ``history_read_timeout_s`` for candle requests.
    - ``feed_backoff``: ``default`` (first retry at once, full jitter to 30 s,
      unlimited) or ``user_design`` (1 s doubling to 300 s, 10 attempts).
      ``feed_liveness_deadline_s``: no pong or data this long closes the feed's
      connection; ``feed_stale_after_s``, ``feed_verify_window_s``: per-token
      staleness in market hours and the window a token has to tick after a
      (re)subscribe.
    - ``sim_speed``: simulated seconds per real second; ``sim_seed``: the
      simulated market's seed.
    - ``extra_holidays``: exchange closures the holiday calendar does not know.
    - ``store_path``: the SQLite store's file. ``store_url``: another store
      instead, ``firestore://PROJECT`` or ``sqlite:///PATH``; ``store_timeout_s``
      bounds every store call (a dead store is an error, not a hang);
      ``store_tokens_in_cloud``: keep the session's tokens in Firestore too
      (off: they stay in the local SQLite file, readable by its owner only).
    - ``telegram_bot_token`` (a secret), ``telegram_chat_id``: Telegram
      notifications, off unless both are set; ``telegram_api_url``: the Bot API
      root (tests point it at a local endpoint); ``notify_min_severity``: the
      least severe event that notifies.
    - ``health_sample_s``, ``health_publish_s``: the health monitor samples
      every 10 s and publishes a snapshot every 60 s; ``heartbeat_path``: a file
      touched at every sample for outside supervisors (empty: none).
    - ``risk_max_open_positions``, ``risk_position_value`` (rupees a new
      position is sized to), ``risk_max_orders_per_minute`` (the kit never
      sends more than 10 a second in any case), ``risk_daily_loss_limit``
      (rupees; reaching it halts entries for the day), ``risk_resume_after_s``
      (a restriction lifted stays in force this long: hysteresis),
      ``intraday_margin_rate`` (share of an entry's value its margin check asks
      for); ``paper_slippage_bps``: paper fills' slippage against the trader;
      ``paper_capital``: the paper account's rupees (its margin check).
    - ``live_confirmed``: must be true for ``mode=live`` to place real orders.
    - ``log_level``: the kit's loggers.
    """

    model_config = SettingsConfigDict(
        env_prefix="KIT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    mode: Literal["paper", "live"] = "paper"
    broker: Literal["simulator", "angel"] = "simulator"

    api_key: SecretStr | None = None
    client_code: SecretStr | None = None
    mpin: SecretStr | None = None
    totp_secret: SecretStr | None = None

    rest_url: str = REST_ROOT
    feed_url: str = FEED_URL
    symbols: Annotated[tuple[str, ...], NoDecode] = DEFAULT_SYMBOLS

    connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    read_timeout_s: float = Field(default=7.0, gt=0, le=120)
    history_read_timeout_s: float = Field(default=20.0, gt=0, le=300)

    feed_backoff: Literal["default", "user_design"] = "default"
    feed_liveness_deadline_s: float = Field(default=20.0, gt=10, le=120)
    feed_stale_after_s: float = Field(default=120.0, gt=0, le=3600)
    feed_verify_window_s: float = Field(default=15.0, gt=0, le=600)

    sim_speed: float = Field(default=1.0, gt=0, le=10_000)
    sim_seed: int = Field(default=7, ge=0)

    extra_holidays: Annotated[tuple[date, ...], NoDecode] = ()
    store_path: Path = Path("kit-data/kit.sqlite3")
    store_url: str | None = None
    store_timeout_s: float = Field(default=10.0, gt=0, le=120)
    store_tokens_in_cloud: bool = False

    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    notify_min_severity: Literal["info", "warning", "error", "critical"] = "warning"

    risk_max_open_positions: int = Field(default=5, ge=1, le=100)
    risk_position_value: float = Field(default=50_000.0, gt=0)
    risk_max_orders_per_minute: int = Field(default=20, ge=1, le=600)
    risk_daily_loss_limit: float = Field(default=5_000.0, gt=0)
    risk_resume_after_s: float = Field(default=120.0, ge=0, le=3600)
    intraday_margin_rate: float = Field(default=0.2, gt=0, le=1)
    paper_slippage_bps: float = Field(default=5.0, ge=0, le=500)
    paper_capital: float = Field(default=1_000_000.0, gt=0)
    live_confirmed: bool = False

    health_sample_s: float = Field(default=10.0, gt=0, le=600)
    health_publish_s: float = Field(default=60.0, gt=0, le=3600)
    heartbeat_path: Path | None = Path("kit-data/heartbeat")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings]
        toml = _toml_path.get()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @field_validator("symbols", "extra_holidays", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # KIT_SYMBOLS=SBIN-EQ,INFY-EQ
            return tuple(s.strip() for s in value.split(",") if s.strip())
        return value

    @field_validator("symbols")
    @classmethod
    def _check_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one symbol is needed")
        seen: set[str] = set()
        for symbol in value:
            if not symbol or symbol != symbol.strip() or " " in symbol:
                raise ValueError(f"{symbol!r} is not a trading symbol")
            if symbol.upper() in seen:
                raise ValueError(f"{symbol} is listed twice")
            seen.add(symbol.upper())
        return tuple(s.upper() for s in value)

    @field_validator("rest_url", "feed_url")
    @classmethod
    def _check_url(cls, value: str, info: Any) -> str:
        url = urlparse(value)
        secure = "https" if info.field_name == "rest_url" else "wss"
        plain = "http" if secure == "https" else "ws"
        if url.scheme == secure and url.hostname:
            return value.rstrip("/")
        if url.scheme == plain and url.hostname in _LOOPBACK_HOSTS:
            return value.rstrip("/")  # the simulator on this machine
        raise ValueError(f"must be a {secure}:// URL ({plain}:// only on loopback)")

    @field_validator("store_url")
    @classmethod
    def _check_store_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        url = urlparse(value)
        if url.scheme == "firestore" and url.netloc:
            return value
        if url.scheme == "sqlite" and url.path not in ("", "/"):
            return value
        raise ValueError("must be firestore://PROJECT or sqlite:///PATH")

    @field_validator("telegram_api_url")
    @classmethod
    def _check_telegram_url(cls, value: str) -> str:
        url = urlparse(value)
        if url.hostname and (
            url.scheme == "https"
            or (url.scheme == "http" and url.hostname in _LOOPBACK_HOSTS)
        ):
            return value.rstrip("/")
        raise ValueError("must be an https:// URL (http:// only on loopback)")

    @field_validator("heartbeat_path", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("totp_secret")
    @classmethod
    def _check_totp_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            pyotp.TOTP(value.get_secret_value()).now()
        except (binascii.Error, ValueError, TypeError):
            # The message must not quote the secret.
            raise ValueError("is not a base32 TOTP secret") from None
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> Settings:
        need_credentials = self.mode == "live" or self.broker == "angel"
        if need_credentials:
            why = "live mode" if self.mode == "live" else "broker=angel"
            for name in SECRET_FIELDS:
                if getattr(self, name) is None:
                    raise ValueError(f"{name}: {why} needs {_describe_field(name)}")
        if (self.telegram_bot_token is None) != (self.telegram_chat_id is None):
            raise ValueError(
                "telegram_chat_id: Telegram needs both telegram_bot_token and "
                "telegram_chat_id (or neither)"
            )
        if self.health_publish_s < self.health_sample_s:
            raise ValueError(
                "health_publish_s: must be at least health_sample_s "
                f"({self.health_sample_s} s)"
            )
        if self.history_read_timeout_s < self.read_timeout_s:
            raise ValueError(
                "history_read_timeout_s: must be at least read_timeout_s "
                f"({self.read_timeout_s} s)"
            )
        return self

    def describe(self) -> dict[str, Any]:
        """The effective settings for a log line, with every secret masked."""
        masked = (*SECRET_FIELDS, *OTHER_SECRET_FIELDS)
        shown = self.model_dump(exclude=set(masked))
        for name in masked:
            shown[name] = "<set>" if getattr(self, name) is not None else "<unset>"
        shown["store_path"] = str(self.store_path)
        shown["heartbeat_path"] = self.heartbeat_path and str(self.heartbeat_path)
        return shown

    def secret_values(self) -> list[str]:
        """The raw secret strings, for the log filter that masks them."""
        names = (*SECRET_FIELDS, *OTHER_SECRET_FIELDS)
        values = [getattr(self, name) for name in names]
        return [v.get_secret_value() for v in values if v is not None]


def _describe_field(name: str) -> str:
    words = {
        "api_key": "an API key",
        "client_code": "a client code",
        "mpin": "an MPIN",
        "totp_secret": "a TOTP secret",
    }
    return f"{words[name]} (set KIT_{name.upper()} or {name} in the settings file)"


def load_settings(path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read the settings, check them, and return them frozen.

    ``path`` names a TOML settings file; without it ``KIT_SETTINGS_FILE`` is used
    when set. Raises :class:`~kit.errors.ConfigurationError` naming the first
    offending field.
    """
    chosen = path if path is not None else os.environ.get("KIT_SETTINGS_FILE")
    toml = Path(chosen) if chosen else None
    if toml is not None and not toml.is_file():
        raise ConfigurationError(
            f"settings file {toml} does not exist", field="settings_file"
        )

    token = _toml_path.set(toml)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise _to_configuration_error(exc) from None
    except SettingsError as exc:  # a value no source could parse
        named = re.search(r'field "(\w+)"', str(exc))
        field = named.group(1) if named else None
        raise ConfigurationError(f"settings: {exc}", field=field) from None
    finally:
        _toml_path.reset(token)


def _to_configuration_error(exc: ValidationError) -> ConfigurationError:
    # Only field names and pydantic's own messages are used: never the input
    # value, which may be a secret.
    first = exc.errors(include_input=False, include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    field = location or message.split(":", 1)[0]
    if not location and ":" in message:
        message = message.split(":", 1)[1].strip()
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return ConfigurationError(f"settings: {field}: {message}{more}", field=field)
