"""Every table, imported in one place so Alembic and the app see the whole schema."""

from server.grades.models import LabDecision, ScoreOverride
from server.jobs.models import Artifact, CheckResultRow, GradingJob
from server.labs.models import Lab
from server.lti.models import LtiGradePassback, LtiLoginState, LtiPlatform, LtiResourceLink, LtiUserLink
from server.rescore.models import StoredOutput
from server.sso.models import SsoLoginState
from server.submissions.models import Submission
from server.users.models import AuditEvent, User

__all__ = ["Artifact", "AuditEvent", "CheckResultRow", "GradingJob", "Lab", "LabDecision", "LtiGradePassback",
           "LtiLoginState", "LtiPlatform", "LtiResourceLink", "LtiUserLink", "ScoreOverride", "SsoLoginState",
           "StoredOutput", "Submission", "User"]
