"""Deep linking: an instructor, adding Labgrader to a course, picks a lab; the LMS gets a signed link to it.

The picker page holds one form per lab, each with its deep linking response already signed by the tool's key (a JWT
naming the lab in the link's custom parameters and asking for a grade column of the lab's points), posted straight
back to the LMS: no state is kept between the page and the choice.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
from jinja2 import Environment

from grader import LabSpec
from server.lti import schemas
from server.lti.keys import ToolKeys

RESPONSE_TTL_S = 600
_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Place a lab</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Place a Labgrader lab in this course</h1>
<p>Choose the lab this link opens. Its grade column gets the lab's points; students' counted scores are sent to it.</p>
<ul>{% for lab in labs %}<li><form method="post" action="{{ return_url }}">
<input type="hidden" name="JWT" value="{{ lab.jwt }}">
<button type="submit" data-lab="{{ lab.id }}">{{ lab.title }}</button> ({{ lab.points }} points)</form></li>
{% endfor %}</ul></main></body></html>""")


def response_jwt(launch: schemas.VerifiedLaunch, spec: LabSpec, keys: ToolKeys, now_s: float | None = None) -> str:
    """The signed LtiDeepLinkingResponse placing `spec` as an LTI link with a grade column."""
    key = keys.signing_key()
    now = int(now_s if now_s is not None else time.time())
    claims: dict[str, Any] = {
        "iss": launch.client_id, "aud": launch.issuer, "iat": now, "exp": now + RESPONSE_TTL_S,
        "nonce": secrets.token_urlsafe(16), schemas.DEPLOYMENT_ID: launch.deployment_id,
        schemas.MESSAGE_TYPE: "LtiDeepLinkingResponse", schemas.VERSION: "1.3.0",
        "https://purl.imsglobal.org/spec/lti-dl/claim/content_items": [{
            "type": "ltiResourceLink", "title": spec.title, "url": launch.target_link_uri,
            "custom": {"lab": spec.id},
            "lineItem": {"scoreMaximum": spec.max_score, "label": spec.title, "resourceId": spec.id},
        }],
    }
    if launch.deep_link_data is not None:
        claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] = launch.deep_link_data
    return jwt.encode(claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid})


def picker_page(launch: schemas.VerifiedLaunch, specs: list[LabSpec], keys: ToolKeys) -> str:
    labs = [{"id": s.id, "title": s.title, "points": f"{s.max_score:g}", "jwt": response_jwt(launch, s, keys)}
            for s in specs]
    return _PAGE.render(labs=labs, return_url=launch.deep_link_return_url)
