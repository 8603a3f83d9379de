"""What a launch carries once its id_token verified, and the LTI claim names and role vocabulary it is read with."""

from __future__ import annotations

from dataclasses import dataclass

from server.users.models import Role

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = CLAIM + "message_type"
VERSION = CLAIM + "version"
DEPLOYMENT_ID = CLAIM + "deployment_id"
ROLES = CLAIM + "roles"
CUSTOM = CLAIM + "custom"
CONTEXT = CLAIM + "context"
RESOURCE_LINK = CLAIM + "resource_link"
AGS_ENDPOINT = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_SERVICE = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
MEMBERSHIPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
TARGET_LINK_URI = CLAIM + "target_link_uri"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
# context roles only: an institution role (e.g. `institution/person#Instructor`) says nothing about this course
INSTRUCTOR_ROLES = frozenset({MEMBERSHIP + "#Instructor", MEMBERSHIP + "#Administrator", "Instructor"})
LEARNER_ROLES = frozenset({MEMBERSHIP + "#Learner", "Learner"})
TA_ROLES = frozenset({MEMBERSHIP + "/Instructor#TeachingAssistant", MEMBERSHIP + "#TeachingAssistant"})


def map_roles(roles: list[str]) -> Role | None:
    """The Labgrader role of an LTI role list; None when it holds no course role Labgrader knows.

    A teaching assistant is a TA even when the LMS also lists them as Instructor (Canvas does: the TA is a sub-role
    of Instructor): a TA must not get an instructor's powers (the roster, extensions) by launching from the LMS.
    """
    held = set(roles)
    if held & TA_ROLES:
        return Role.TA
    if held & INSTRUCTOR_ROLES:
        return Role.INSTRUCTOR
    if held & LEARNER_ROLES:
        return Role.STUDENT
    return None


@dataclass(frozen=True)
class VerifiedLaunch:
    """The facts of a launch whose id_token passed every check."""

    issuer: str
    subject: str
    role: Role
    lab_id: str | None
    name_hints: tuple[str, ...]  # preferred_username, email, name: for a new user's Labgrader name
    platform_id: int = 0
    resource_link_id: str | None = None
    lineitem_url: str | None = None  # Assignment and Grade Services: the link's grade column
    memberships_url: str | None = None  # Names and Role Provisioning Services: the course roster
    message_type: str = RESOURCE_LINK_REQUEST
    deep_link_return_url: str | None = None  # deep linking: where the chosen lab is posted back
    deep_link_data: object = None  # deep linking: opaque, echoed back
    target_link_uri: str = ""
    client_id: str = ""
    deployment_id: str = ""
