"""Load bundled labs into the database and read them back as validated specs."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from grader import LabSpec, discover_labs
from server.errors import NotFound
from server.labs.models import Lab


def sync_labs(session: Session, labs_dir: Path) -> list[str]:
    """Insert or update every lab found on disk; labs no longer on disk stay (their submissions need them)."""
    specs = discover_labs(labs_dir)
    for spec in specs.values():
        spec_json = spec.model_dump_json()
        digest = hashlib.sha256(spec_json.encode()).hexdigest()
        lab = session.get(Lab, spec.id)
        if lab is None:
            session.add(Lab(id=spec.id, title=spec.title, spec_json=spec_json, spec_hash=digest, active=True))
        elif lab.spec_hash != digest:
            lab.title, lab.spec_json, lab.spec_hash, lab.active = spec.title, spec_json, digest, True
    return sorted(specs)


def get_spec(session: Session, lab_id: str) -> LabSpec:
    lab = session.get(Lab, lab_id)
    if lab is None or not lab.active:
        raise NotFound(f"no lab with id {lab_id!r}")
    return LabSpec.model_validate_json(lab.spec_json)


def list_specs(session: Session) -> list[LabSpec]:
    labs = session.scalars(select(Lab).where(Lab.active.is_(True)).order_by(Lab.id))
    return [LabSpec.model_validate_json(lab.spec_json) for lab in labs]
