"""Labgrader as an LTI 1.3 tool: platform registrations, the tool's keys, OIDC login initiation and launches.

Its libraries come with the `lti` extra (`pip install 'labgrader[lti]'`); without them the service runs and the
/lti routes are absent.
"""

from __future__ import annotations

from importlib.util import find_spec

MISSING_EXTRA = "LTI needs the lti extra: pip install 'labgrader[lti]'"


def lti_installed() -> bool:
    return find_spec("jwt") is not None and find_spec("cryptography") is not None


def sso_installed() -> bool:
    return lti_installed() and find_spec("authlib") is not None and find_spec("joserfc") is not None
