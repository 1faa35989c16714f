"""What Zeitgeist derives from a subject's URI: its storage medium."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeitbus.ontology import NETWORK_SCHEMES, STORAGE_NET, STORAGE_UNKNOWN, storage_for_uri

# RFC 3986's scheme: a letter, then letters, digits, "+", "." or "-", then ":".
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


@pytest.mark.parametrize(
    ("uri", "storage"),
    [
        ("http://example.com/", STORAGE_NET),
        ("HTTPS://example.com/", STORAGE_NET),
        ("mailto:someone@example.com", STORAGE_NET),
        ("sftp://host/file", STORAGE_NET),
        ("file:///home/u/a.txt", STORAGE_UNKNOWN),
        ("application://firefox.desktop", STORAGE_UNKNOWN),
        ("https", STORAGE_UNKNOWN),
        ("/https://not-a-scheme", STORAGE_UNKNOWN),
        ("", STORAGE_UNKNOWN),
    ],
)
def test_storage_is_net_for_network_schemes(uri: str, storage: str) -> None:
    assert storage_for_uri(uri) == storage


@given(
    st.one_of(
        st.text(),
        st.builds(
            "{}:{}".format,
            st.sampled_from(sorted(NETWORK_SCHEMES)).map(str.upper) | st.text(max_size=8),
            st.text(),
        ),
    )
)
def test_storage_follows_the_uri_scheme(uri: str) -> None:
    match = SCHEME.match(uri)
    net = match is not None and match.group(1).lower() in NETWORK_SCHEMES
    assert storage_for_uri(uri) == (STORAGE_NET if net else STORAGE_UNKNOWN)
