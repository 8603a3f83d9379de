"""The `oidc-provider` npm package (a certified OpenID provider) installed on first use and run on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

OIDC_PROVIDER_VERSION = "9.13.3"
# outside the repository; LABGRADER_TEST_NPM_DIR moves it (the install is reused between runs)
NPM_DIR = Path(os.environ.get("LABGRADER_TEST_NPM_DIR", "/var/tmp/labgrader-test-npm"))
SCRIPT = Path(__file__).with_name("provider.mjs")
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


def provider_module() -> Path:
    """`oidc-provider`'s entry point, installed with npm when it is not there yet."""
    module = NPM_DIR / "node_modules" / "oidc-provider" / "lib" / "index.js"
    if not module.exists():
        npm = shutil.which("npm")
        assert npm is not None, "the SSO tests need node and npm (apt-get install nodejs npm)"
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        (NPM_DIR / "package.json").write_text('{"name": "labgrader-test-npm", "private": true}')
        subprocess.run([npm, "install", "--no-audit", "--no-fund", f"oidc-provider@{OIDC_PROVIDER_VERSION}"],
                       cwd=NPM_DIR, check=True, capture_output=True, timeout=600)
    return module


@dataclass
class OidcProvider:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def start_provider(port: int, client_id: str, client_secret: str, redirect_uri: str,
                   accounts: dict[str, dict[str, object]], log: Path) -> OidcProvider:
    config = {"client_id": client_id, "client_secret": client_secret, "redirect_uri": redirect_uri,
              "accounts": accounts}
    env = {**os.environ, "OIDC_PROVIDER_MODULE": str(provider_module())}
    process = subprocess.Popen(["node", str(SCRIPT), str(port), json.dumps(config)], env=env,
                               stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/.well-known/openid-configuration", timeout=2).status_code == 200:
                return OidcProvider(url, process)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise AssertionError(f"oidc-provider did not start: {log.read_text()}")


def _until_tool(client: httpx.Client, response: httpx.Response, tool_url: str) -> httpx.Response | str:
    """Follow the provider's redirects; the tool's callback URL (not opened) once one points there."""
    for _ in range(10):
        if not response.is_redirect:
            return response
        location = str(response.url.join(response.headers["location"]))
        if location.startswith(tool_url):
            return location
        response = client.get(location, follow_redirects=False)
    raise AssertionError("too many redirects at the provider")


def sign_in(client: httpx.Client, login_url: str, login: str, tool_url: str) -> str:
    """Start an SSO login in `client` (a browser), fill the provider's login and consent forms; the callback URL."""
    page = _until_tool(client, client.get(login_url, follow_redirects=False), tool_url)
    for data in ({"prompt": "login", "login": login, "password": "any"}, {"prompt": "consent"}):
        if isinstance(page, str):
            return page
        assert page.status_code == 200, page.text
        action = FORM_ACTION.search(page.text)
        assert action is not None, page.text
        page = _until_tool(client, client.post(str(page.url.join(action.group(1))), data=data,
                                               follow_redirects=False), tool_url)
    assert isinstance(page, str), page.text
    return page
