"""Load bundled labs into the database and read them back as validated specs."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import LabSpec, SpecInvalid, discover_labs, load_spec
from server.errors import InvalidInput, NotFound
from server.labs.models import Lab


def _store_spec(session: Session, spec: LabSpec) -> None:
    spec_json = spec.model_dump_json()
    digest = hashlib.sha256(spec_json.encode()).hexdigest()
    lab = session.get(Lab, spec.id)
    if lab is None:
        session.add(Lab(id=spec.id, title=spec.title, spec_json=spec_json, spec_hash=digest, active=True))
    elif lab.spec_hash != digest:
        lab.title, lab.spec_json, lab.spec_hash, lab.active = spec.title, spec_json, digest, True


def sync_labs(session: Session, labs_dir: Path) -> list[str]:
    """Insert or update every lab found on disk; labs no longer on disk stay (their submissions need them)."""
    specs = discover_labs(labs_dir)
    for spec in specs.values():
        _store_spec(session, spec)
    return sorted(specs)


def reload_spec(session: Session, labs_dir: Path, lab_id: str) -> LabSpec:
    """Read a known lab's lab.toml again (an instructor edited it) and store it; a lab no longer on disk keeps
    the spec stored when it was last loaded."""
    stored = get_spec(session, lab_id)
    path = labs_dir / lab_id / "lab.toml"
    if not path.is_file():
        return stored
    try:
        spec = load_spec(path)
    except SpecInvalid as exc:
        raise InvalidInput(f"the lab's spec does not validate, so nothing was changed: {exc}") from exc
    _store_spec(session, spec)
    return spec


def get_spec(session: Session, lab_id: str) -> LabSpec:
    lab = session.get(Lab, lab_id)
    if lab is None or not lab.active:
        raise NotFound(f"no lab with id {lab_id!r}")
    return LabSpec.model_validate_json(lab.spec_json)


def list_specs(session: Session) -> list[LabSpec]:
    labs = session.scalars(select(Lab).where(Lab.active.is_(True)).order_by(Lab.id))
    return [LabSpec.model_validate_json(lab.spec_json) for lab in labs]
