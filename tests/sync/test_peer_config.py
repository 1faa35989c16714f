"""Peers as configured and stored (sync.peers), and the [sync] table of config.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from zeitbus import Engine
from zeitbus.errors import InvalidArgument, InvalidKey
from zeitbus.extensions.conf import ExtensionConf
from zeitbus.sync import settings as sync_settings
from zeitbus.sync.peers import PeerStore, new_peer, peer_id
from zeitbus.sync.settings import SyncSettings


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("http://desktop.local:5680", "http://desktop.local:5680"),
        ("  HTTPS://Server.Example/zeitbus/ ", "https://server.example/zeitbus"),
        ("http://[::1]:5680/", "http://[::1]:5680"),
        ("http://127.0.0.1", "http://127.0.0.1"),
    ],
)
def test_a_url_is_kept_normalized(url: str, normalized: str) -> None:
    assert new_peer(url).url == normalized


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "a peer needs a URL"),
        ("desktop.local:5680", "must start with http:// or https://"),
        ("ftp://desktop.local", "must start with http:// or https://"),
        ("http://", "needs a host"),
        ("http://:5680", "needs a host"),
        ("http://desktop:99999", "not a URL"),
        ("http://desktop:port", "not a URL"),
        ("http://[::1", "not a URL"),
        ("http://me:secret@desktop", "cannot carry a user or password"),
        ("http://desktop/?x=1", "no query or fragment"),
        ("http://desktop/#top", "no query or fragment"),
        ("http://desk top", "spaces or control characters"),
        ("http://desktop/a\x7fb", "spaces or control characters"),
        ("http://" + "a" * 2000, "at most 2000 characters"),
    ],
)
def test_a_bad_url_is_refused_saying_why(url: str, reason: str) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        new_peer(url)


def test_what_a_peer_is_made_of_is_checked() -> None:
    with pytest.raises(InvalidArgument, match="direction must be one of both, pull, push"):
        new_peer("http://desktop", direction="sideways")
    with pytest.raises(InvalidArgument, match="kind must be one of zeitbus, couchdb"):
        new_peer("http://desktop", kind="ftp")
    with pytest.raises(InvalidArgument, match="CouchDB peers are not supported yet"):
        new_peer("http://couch:5984/zeitbus", kind="couchdb")
    with pytest.raises(InvalidArgument, match="encryption is for CouchDB peers"):
        new_peer("http://desktop", encrypt=True)
    with pytest.raises(InvalidArgument, match="encrypt must be true or false"):
        new_peer("http://desktop", encrypt="yes")
    with pytest.raises(InvalidArgument, match="visible ASCII"):
        new_peer("http://desktop", token="zbt_a b")
    with pytest.raises(InvalidArgument, match="visible ASCII"):
        new_peer("http://desktop", token="zbt_\u00e9")


def test_a_peers_id_is_short_and_the_same_for_the_same_url() -> None:
    first = new_peer("http://Desktop.local:5680/", created=1)
    again = new_peer("http://desktop.local:5680", created=2)
    assert first.id == again.id == peer_id("zeitbus", "http://desktop.local:5680")
    assert len(first.id) == 8
    assert new_peer("http://laptop.local:5680").id != first.id


def test_the_api_form_of_a_peer_never_shows_its_token() -> None:
    peer = new_peer("http://desktop", token="zbt_secret", direction="pull", created=5)
    assert peer.as_dict() == {
        "id": peer.id,
        "url": "http://desktop",
        "kind": "zeitbus",
        "direction": "pull",
        "encrypt": False,
        "token": True,
        "created": 5,
    }
    assert (peer.pulls, peer.pushes) == (True, False)


def test_peers_are_stored_in_the_log_and_read_back_after_reopening(tmp_path: Path) -> None:
    with Engine.open(tmp_path / "data") as engine:
        store = PeerStore(engine)
        desktop = store.add(new_peer("http://desktop", token="zbt_1"))
        store.add(new_peer("http://laptop", direction="push"))
        with pytest.raises(InvalidArgument, match="is a peer already"):
            store.add(new_peer("http://desktop/", token="zbt_2"))
    with Engine.open(tmp_path / "data") as engine:
        store = PeerStore(engine)
        assert [(p.url, p.direction, p.token) for p in store.all()] == [
            ("http://desktop", "both", "zbt_1"),
            ("http://laptop", "push", ""),
        ]
        assert store.remove(desktop.id) == desktop
        with pytest.raises(InvalidKey, match="no sync peer"):
            store.remove(desktop.id)
        assert [p.url for p in store.all()] == ["http://laptop"]


def test_a_stored_peer_that_cannot_be_read_is_skipped_not_fatal(tmp_path: Path) -> None:
    with Engine.open(tmp_path / "data") as engine:
        good = new_peer("http://desktop")
        ExtensionConf(engine).save(
            "sync",
            "peers",
            [good.stored(), {"url": "ftp://nope"}, 7, {**good.stored(), "direction": "up"}],
        )
        assert PeerStore(engine).all() == [good]
        ExtensionConf(engine).save("sync", "peers", {"not": "a list"})
        assert PeerStore(engine).all() == []


def test_the_sync_table_of_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    environ = {"ZEITBUS_CONFIG": str(config)}
    assert sync_settings.load(environ) == SyncSettings(live=True, filter_received=False)
    config.write_text("[http]\nport = 0\n[sync]\nfilter_received = true\nlive = false\n")
    assert sync_settings.load(environ) == SyncSettings(live=False, filter_received=True)
    config.write_text("[sync]\nfilter = true\n")
    with pytest.raises(InvalidArgument, match=r"unknown key sync\.filter"):
        sync_settings.load(environ)
    config.write_text('[sync]\nlive = "yes"\n')
    with pytest.raises(InvalidArgument, match=r"sync\.live must be true or false"):
        sync_settings.load(environ)
    config.write_text("sync = 1\n")
    with pytest.raises(InvalidArgument, match=r"\[sync\] must be a table"):
        sync_settings.load(environ)
