"""Names and Role Provisioning Services: the course roster of a placed link, synced into users and passback rows.

Every member the LMS lists as Active with a course role Labgrader knows gets a user (linked by the LMS's user id,
created when new, named as at a first launch) and, for students, a row in the link's grade passback ledger, so a
score is sent for students who never launched the link but submitted with a token. Members the LMS marks Inactive
or Deleted are left as they are (their grades stay); the instructor disables them in Labgrader if needed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server.db import db_now
from server.lti import schemas
from server.lti.models import LtiPlatform, LtiResourceLink
from server.lti.passback import AgsClient, PassbackFailed, ensure_row
from server.lti.service import user_for_launch
from server.users.models import Role

MAX_MEMBERS = 5000
MAX_ERROR_CHARS = 300
MEMBERSHIP_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


def sync_link(session: Session, link: LtiResourceLink, client: AgsClient) -> int:
    """Fetch the link's roster and bring users and passback rows in line; how many members were taken."""
    platform = session.get(LtiPlatform, link.platform_id)
    if platform is None or not link.memberships_url:
        return 0
    token = client.token(platform, schemas.MEMBERSHIPS_SCOPE)
    body = client.get_json(link.memberships_url, token, MEMBERSHIP_MEDIA_TYPE)
    members = body.get("members")
    if not isinstance(members, list):
        raise PassbackFailed(f"{link.memberships_url} answered without a members list")
    taken = 0
    now = db_now(session)
    for member in members[:MAX_MEMBERS]:
        if not isinstance(member, dict) or member.get("status", "Active") != "Active":
            continue
        roles = member.get("roles")
        role = schemas.map_roles([str(r) for r in roles] if isinstance(roles, list) else [])
        subject = member.get("user_id")
        if role is None or not isinstance(subject, str) or not subject:
            continue
        hints = tuple(str(member[k]) for k in ("email", "name") if isinstance(member.get(k), str))
        user = user_for_launch(session, schemas.VerifiedLaunch(issuer=platform.issuer, subject=subject, role=role,
                                                               lab_id=link.lab_id, name_hints=hints),
                               keep_role=True)
        if user.role == Role.STUDENT:
            ensure_row(session, link, user.id, subject, now)
        taken += 1
    return taken


def sync_due(session: Session, client: AgsClient, every_s: float) -> int:
    """Sync every link whose roster is older than `every_s`; a failure is kept on the link and retried next time."""
    now = db_now(session)
    due = list(session.scalars(select(LtiResourceLink).where(
        LtiResourceLink.memberships_url.is_not(None),
        or_(LtiResourceLink.roster_synced_at.is_(None),
            LtiResourceLink.roster_synced_at <= now - timedelta(seconds=every_s)))))
    synced = 0
    for link in due:
        try:
            sync_link(session, link, client)
        except PassbackFailed as exc:
            session.rollback()
            link.roster_error = str(exc)[:MAX_ERROR_CHARS]
        else:
            link.roster_error = ""
            synced += 1
        link.roster_synced_at = now
        session.commit()
    return synced
