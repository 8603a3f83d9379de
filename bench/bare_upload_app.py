"""The baseline of `bench.api_load`: a bare FastAPI endpoint that accepts the same multipart upload and nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, File, UploadFile

app = FastAPI()


@app.post("/api/v1/labs/{lab_id}/submissions", status_code=202)
async def upload(lab_id: str, notebook: Annotated[UploadFile, File()]) -> dict[str, object]:
    data = await notebook.read()
    return {"lab_id": lab_id, "bytes": len(data)}
