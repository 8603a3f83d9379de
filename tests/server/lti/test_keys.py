"""The tool's key set: private files only the service can read, published keys, rotation with a grace period."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import jwt

from server.lti.keys import ToolKeys
from tests.conftest import LiveServer
from tests.server.lti.platform import LtiPlatformServer


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_private_files_and_rotation_keeps_the_old_key_published_until_it_expires(tmp_path: Path) -> None:
    keys = ToolKeys(tmp_path / "keys")
    first = keys.signing_key()
    assert _mode(tmp_path / "keys") == 0o700
    assert {_mode(p) for p in (tmp_path / "keys").iterdir()} == {0o600}
    assert [k["kid"] for k in keys.jwks(now_s=1000)["keys"]] == [first.kid]

    second = keys.rotate(keep_old_h=1, now_s=1000)
    assert second.kid != first.kid and keys.signing_key().kid == second.kid
    assert [k["kid"] for k in keys.jwks(now_s=1000 + 3599)["keys"]] == [first.kid, second.kid]
    assert [k["kid"] for k in keys.jwks(now_s=1000 + 3600)["keys"]] == [second.kid]  # its hour is over

    third = keys.rotate(keep_old_h=1, now_s=1000 + 3600)  # the expired key's file is deleted
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted(
        ["index.json", f"{second.kid}.pem", f"{third.kid}.pem"])
    assert {_mode(p) for p in (tmp_path / "keys").iterdir()} == {0o600}


def test_the_served_key_set_verifies_what_the_tool_signs(lti_pair: tuple[LiveServer, LtiPlatformServer],
                                                         data_dir: Path) -> None:
    server, _ = lti_pair
    keyset = httpx.get(f"{server.url}/lti/jwks.json").json()
    assert all(set(k) == {"kty", "n", "e", "kid", "alg", "use"} for k in keyset["keys"]), keyset  # no private part
    key = ToolKeys.for_data_dir(data_dir).signing_key()
    token = jwt.encode({"iss": "labgrader"}, key.private_pem, algorithm="RS256", headers={"kid": key.kid})
    public = jwt.PyJWKSet.from_dict(keyset)[key.kid].key
    assert jwt.decode(token, public, algorithms=["RS256"]) == {"iss": "labgrader"}
    rotated = server.cli("lti", "rotate-key", "--keep-old-h", "2")
    new_kid = ToolKeys.for_data_dir(data_dir).signing_key().kid
    assert rotated.stdout == f"New signing key {new_kid}; the previous one stays in /lti/jwks.json for 2 h.\n"
    published = [k["kid"] for k in httpx.get(f"{server.url}/lti/jwks.json").json()["keys"]]
    assert published == [key.kid, new_kid]


def test_a_platform_is_registered_once(lti_pair: tuple[LiveServer, LtiPlatformServer]) -> None:
    server, platform = lti_pair
    again = server.cli(*platform.add_platform_args(), check=False)
    assert again.returncode == 2
    assert again.stderr == (f"error: platform {platform.issuer} with client id labgrader-test-client and deployment "
                            "deployment-1 is already registered (id 1)\n")
    bad = server.cli("lti", "add-platform", "--issuer", "x", "--client-id", "c", "--deployment-id", "d",
                     "--keyset-url", "ftp://x", "--auth-url", "https://a", "--token-url", "https://t", check=False)
    assert bad.returncode == 2
    assert bad.stderr == "error: the public key set URL (--keyset-url) must be an http(s) URL, not 'ftp://x'\n"
