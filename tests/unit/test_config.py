"""kit.config: sources and their order, checks naming the field, secrets masked."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest

from kit.config import Settings, load_settings
from kit.errors import ConfigurationError

TOTP_SECRET = pyotp.random_base32()
CREDENTIALS = {
    "api_key": "fake-api-key-123",
    "client_code": "F12345",
    "mpin": "4321",
    "totp_secret": TOTP_SECRET,
}


def test_defaults_are_paper_trading_on_the_simulator():
    settings = load_settings()

    assert settings.mode == "paper"
    assert settings.broker == "simulator"
    assert settings.read_timeout_s == 7.0
    assert settings.symbols[0] == "SBIN-EQ"


def test_settings_are_frozen():
    settings = load_settings()

    with pytest.raises(Exception, match="frozen"):
        settings.mode = "live"  # type: ignore[misc]


def test_environment_beats_dotenv_beats_toml(tmp_path: Path, monkeypatch):
    toml = tmp_path / "kit.toml"
    toml.write_text('read_timeout_s = 9.0\nsim_seed = 3\nsymbols = ["INFY-EQ"]\n')
    Path(".env").write_text("KIT_SIM_SEED=4\nKIT_SIM_SPEED=60\n")
    monkeypatch.setenv("KIT_SIM_SPEED", "120")

    settings = load_settings(toml)

    assert settings.read_timeout_s == 9.0  # only in the file
    assert settings.sim_seed == 4  # .env beats the file
    assert settings.sim_speed == 120  # the environment beats .env
    assert settings.symbols == ("INFY-EQ",)


def test_settings_file_from_the_environment(tmp_path: Path, monkeypatch):
    toml = tmp_path / "kit.toml"
    toml.write_text("sim_seed = 11\n")
    monkeypatch.setenv("KIT_SETTINGS_FILE", str(toml))

    assert load_settings().sim_seed == 11


def test_symbols_from_a_comma_separated_variable(monkeypatch):
    monkeypatch.setenv("KIT_SYMBOLS", "sbin-eq, infy-eq")

    assert load_settings().symbols == ("SBIN-EQ", "INFY-EQ")


def test_a_missing_settings_file_is_named():
    with pytest.raises(ConfigurationError, match=r"nope\.toml does not exist"):
        load_settings("nope.toml")


def test_an_unknown_key_in_the_file_is_refused(tmp_path: Path):
    toml = tmp_path / "kit.toml"
    toml.write_text("read_timeout = 9.0\n")

    with pytest.raises(ConfigurationError) as caught:
        load_settings(toml)

    assert caught.value.field == "read_timeout"


@pytest.mark.parametrize("missing", ["api_key", "client_code", "mpin", "totp_secret"])
def test_live_mode_without_a_credential_is_refused_naming_it(missing):
    given = {k: v for k, v in CREDENTIALS.items() if k != missing}

    with pytest.raises(ConfigurationError) as caught:
        load_settings(mode="live", **given)

    assert caught.value.field == missing
    assert "live mode needs" in str(caught.value)
    assert f"KIT_{missing.upper()}" in str(caught.value)


def test_the_real_broker_needs_credentials_even_for_paper_trading():
    with pytest.raises(ConfigurationError, match="broker=angel needs an API key"):
        load_settings(broker="angel")


def test_live_mode_with_every_credential_is_accepted():
    settings = load_settings(mode="live", broker="angel", **CREDENTIALS)

    assert settings.mode == "live"


def test_a_bad_totp_secret_is_refused_without_quoting_it():
    with pytest.raises(ConfigurationError) as caught:
        load_settings(totp_secret="not base32 at all!!")

    assert caught.value.field == "totp_secret"
    assert "not base32 at all" not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("read_timeout_s", 0, "greater than 0"),
        ("sim_speed", 20_000, "less than or equal"),
        ("rest_url", "http://apiconnect.angelone.in", "https://"),
        ("feed_url", "ws://example.com/smart-stream", "wss://"),
        ("symbols", [], "at least one symbol"),
        ("symbols", ["SBIN-EQ", "sbin-eq"], "listed twice"),
        ("mode", "yolo", "'paper' or 'live'"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_field(field, value, words):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**{field: value})

    assert caught.value.field == field
    assert words in str(caught.value)


def test_plain_urls_are_allowed_on_loopback_for_the_simulator():
    settings = load_settings(
        rest_url="http://127.0.0.1:8123/", feed_url="ws://localhost:8123/smart-stream"
    )

    assert settings.rest_url == "http://127.0.0.1:8123"


def test_history_timeout_shorter_than_the_read_timeout_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        load_settings(read_timeout_s=30, history_read_timeout_s=10)

    assert caught.value.field == "history_read_timeout_s"


def test_secrets_never_show_in_repr_str_or_describe():
    settings = load_settings(mode="live", **CREDENTIALS)

    shown = " ".join([repr(settings), str(settings), str(settings.describe())])

    for secret in CREDENTIALS.values():
        assert secret not in shown
    assert settings.describe()["mpin"] == "<set>"


def test_secret_values_hands_the_raw_values_to_the_log_filter():
    settings = load_settings(mode="live", **CREDENTIALS)

    assert sorted(settings.secret_values()) == sorted(CREDENTIALS.values())


def test_settings_class_reads_the_environment_directly(monkeypatch):
    monkeypatch.setenv("KIT_MODE", "live")
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(f"KIT_{name.upper()}", value)

    assert Settings().mode == "live"


def test_extra_holidays_from_a_comma_separated_variable(monkeypatch):
    monkeypatch.setenv("KIT_EXTRA_HOLIDAYS", "2026-12-31, 2027-01-01")

    holidays = load_settings().extra_holidays

    assert [d.isoformat() for d in holidays] == ["2026-12-31", "2027-01-01"]
