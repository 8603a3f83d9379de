"""A real tool (`labgrader serve`) and a real LTI 1.3 platform (lti1p3platform), both on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, make_server
from tests.server.lti.platform import LtiPlatformServer


@pytest.fixture(scope="package")
def lti_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LtiPlatformServer]]:
    server = make_server(tmp_path_factory.mktemp("lti"), LABGRADER_LTI_PASSBACK_INTERVAL_S="0.3",
                         LABGRADER_LTI_PASSBACK_BACKOFF_S="0.2")
    platform = LtiPlatformServer(server.url).start()
    server.cli(*platform.add_platform_args())
    server.start()
    yield server, platform
    server.stop()
    platform.stop()


@pytest.fixture
def data_dir(lti_pair: tuple[LiveServer, LtiPlatformServer]) -> Path:
    return Path(lti_pair[0].env["LABGRADER_DATA_DIR"])
