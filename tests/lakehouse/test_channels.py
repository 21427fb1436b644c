from pathlib import Path

import pytest

from governance.errors import InputError, NotFoundError
from lakehouse.channels import (
    ChannelConfig,
    ChannelKind,
    Sender,
    check_channel,
    load_channels,
    signature,
    verify_signature,
)
from lakehouse.settings import load_settings


def test_channels_come_from_the_environment_over_secrets_toml():
    secrets = {
        "channels": {
            "ops": {"url": "https://old.example.com/hook", "secret": "from-toml"},
            "mail": {"url": "mailto://user:pw@smtp.example.com?to=a@example.com"},
        }
    }
    environ = {"MLGOV_CHANNEL_OPS": "https://new.example.com/hook", "HOME": "/root"}
    found = load_channels(environ, secrets=secrets)
    assert sorted(found) == ["mail", "ops"]
    assert found["ops"].url == "https://new.example.com/hook"
    assert found["ops"].secret == "from-toml"  # the environment names no secret: the file's stays
    assert found["ops"].kind is ChannelKind.WEBHOOK
    assert found["mail"].kind is ChannelKind.APPRISE
    assert "from-toml" not in repr(found["ops"])
    assert "pw" not in repr(found["mail"]) + found["mail"].where


def test_settings_take_channel_variables_and_still_refuse_typos(tmp_path: Path):
    environ = {"MLGOV_CHANNEL_OPS": "https://x.example.com", "MLGOV_CHANNEL_OPS_SECRET": "s"}
    load_settings(environ, cwd=tmp_path)
    with pytest.raises(InputError, match=r"unknown setting MLGOV_CHANEL_OPS: .*MLGOV_CHANNEL_<NAME>"):
        load_settings({"MLGOV_CHANEL_OPS": "https://x.example.com"}, cwd=tmp_path)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ChannelConfig("ops", "https://", "s"), "MLGOV_CHANNEL_OPS is not a valid webhook URL"),
        (ChannelConfig("ops", "http://host:99999/x", "s"), "not a valid webhook URL"),
        (ChannelConfig("ops", "https://hooks.example.com/x"), "set MLGOV_CHANNEL_OPS_SECRET"),
        (ChannelConfig("ops", "slack://not-enough"), "not a URL apprise can send to"),
        (ChannelConfig("Ops!", "https://hooks.example.com/x", "s"), "channel name 'Ops!' is not valid"),
    ],
)
def test_a_misconfigured_channel_is_one_line(config: ChannelConfig, message: str):
    with pytest.raises(InputError, match=message):
        check_channel(config)


def test_an_unknown_channel_names_the_configured_ones():
    sender = Sender({"ops": ChannelConfig("ops", "https://hooks.example.com/x", "s")}, timeout=1)
    with pytest.raises(NotFoundError, match="unknown channel 'pager': configured channels are ops"):
        sender.config("pager")


def test_a_signature_holds_only_for_its_secret_id_timestamp_and_body():
    body = b'{"alert_id":"a1"}'
    headers = {
        "X-Mlgov-Delivery-Id": "a1",
        "X-Mlgov-Timestamp": "1700000000",
        "X-Mlgov-Signature": signature("s3cret", delivery_id="a1", timestamp="1700000000", body=body),
    }
    assert headers["X-Mlgov-Signature"].startswith("v1,")
    assert verify_signature("s3cret", headers=headers, body=body)
    assert not verify_signature("other", headers=headers, body=body)
    assert not verify_signature("s3cret", headers=headers, body=body + b" ")
    assert not verify_signature("s3cret", headers={**headers, "X-Mlgov-Timestamp": "1700000001"}, body=body)
    assert not verify_signature("s3cret", headers={}, body=body)
