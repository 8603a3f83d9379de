"""The public OpenAPI document names each schema once, by a name a client generator can use as a class name."""

from __future__ import annotations

from pathlib import Path

from server.app import create_app
from server.settings import Settings


def test_schema_names_are_distinct_and_plain(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'openapi.db'}", data_dir=tmp_path / "data"))
    names = set(app.openapi()["components"]["schemas"])
    # a name shared by two models comes out module-qualified (`server__labs__schemas__CheckOut`)
    assert sorted(n for n in names if n.startswith("server__")) == []
    assert {"LabCheckOut", "SubmissionCheckOut", "LabOut", "SubmissionOut"} <= names
    assert "CheckOut" not in names
