"""Single sign-on: OpenID Connect login (Authlib) against the institution's provider, onto existing users.

Needs the `lti` extra (Authlib) and `LABGRADER_SSO_ISSUER`, `LABGRADER_SSO_CLIENT_ID`, `LABGRADER_SSO_CLIENT_SECRET`.
"""
