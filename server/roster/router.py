"""The roster over the API (instructors): list users, reset a token, revoke it, disable/enable, delete."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from server.auth import Instructor, SessionDep
from server.roster import lifecycle
from server.users.models import User

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserOut(BaseModel):
    name: str
    role: str
    token_prefix: str
    disabled: bool
    token_revoked: bool


class TokenOut(BaseModel):
    name: str
    role: str
    token: str


class DeletedOut(BaseModel):
    name: str
    deleted_submissions: int


def _out(user: User) -> UserOut:
    return UserOut(name=user.name, role=user.role, token_prefix=user.token_prefix,
                   disabled=user.disabled_at is not None, token_revoked=user.token_revoked_at is not None)


@router.post("/{name}/reset-token", response_model=TokenOut)
def reset_token(name: str, user: Instructor, session: SessionDep) -> TokenOut:
    """A new token for the user, shown once in this response; the old one stops working."""
    issued = lifecycle.reset_token(session, name, user.name)
    session.commit()
    return TokenOut(name=issued.name, role=issued.role, token=issued.token)


@router.post("/{name}/revoke", response_model=UserOut)
def revoke(name: str, user: Instructor, session: SessionDep) -> UserOut:
    lifecycle.revoke_token(session, name, user.name)
    session.commit()
    return _out(lifecycle.find_user(session, name))


@router.post("/{name}/disable", response_model=UserOut)
def disable(name: str, user: Instructor, session: SessionDep) -> UserOut:
    lifecycle.set_disabled(session, name, user.name, True)
    session.commit()
    return _out(lifecycle.find_user(session, name))


@router.post("/{name}/enable", response_model=UserOut)
def enable(name: str, user: Instructor, session: SessionDep) -> UserOut:
    lifecycle.set_disabled(session, name, user.name, False)
    session.commit()
    return _out(lifecycle.find_user(session, name))


@router.delete("/{name}", response_model=DeletedOut)
def delete(name: str, user: Instructor, session: SessionDep) -> DeletedOut:
    """The user and all their submissions, jobs and results."""
    count = lifecycle.delete_user(session, name, user.name)
    session.commit()
    return DeletedOut(name=name, deleted_submissions=count)
