"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis, bounded): no input makes it answer 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import make_server

EXAMPLES_PER_OPERATION = 25


def test_no_generated_request_makes_the_api_fail(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = make_server(tmp_path_factory.mktemp("fuzz"), LABGRADER_SUBMISSIONS_PER_HOUR="1000")
    server.start()
    try:
        headers = {"Authorization": f"Bearer {server.add_user('fuzzer', 'instructor')}"}
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 9
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call(base_url=server.url, headers=headers, timeout=30)
                case.validate_response(response, checks=[not_a_server_error])

            fuzz()
    finally:
        server.stop()
