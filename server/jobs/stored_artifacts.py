"""How a submission's files are stored: notebooks gzip-compressed, the rest as they are; reading gives the bytes back.

A notebook is JSON and its outputs repeat (a training loop printing the same line 100 000 times): a 19.9 MB upload
of repeated output stores about 0.1 MB instead of 19.9 MB. The learning curve (PNG) and the submitted files (a zip
bundle) are compressed already and stay `identity`. Rows written before compression was introduced are `identity`
too and read unchanged; whoever downloads a file gets the bytes that were uploaded or executed, never gzip.
"""

from __future__ import annotations

import zlib
from enum import StrEnum

from server.jobs.models import Artifact, ArtifactKind


class ContentEncoding(StrEnum):
    IDENTITY = "identity"
    GZIP = "gzip"


COMPRESSED_KINDS = frozenset({ArtifactKind.SUBMITTED_NOTEBOOK.value, ArtifactKind.EXECUTED_NOTEBOOK.value})
GZIP_LEVEL = 6  # zlib's default: 19.9 MB of repeated output in ~0.1 s; 9 gains little on notebooks and costs more
_GZIP_WBITS = 31  # zlib's gzip container (RFC 1952), what `gzip -d` and HTTP `Content-Encoding: gzip` read


def encoding_for(kind: str) -> ContentEncoding:
    return ContentEncoding.GZIP if kind in COMPRESSED_KINDS else ContentEncoding.IDENTITY


def encode(content: bytes, encoding: ContentEncoding) -> bytes:
    if encoding is ContentEncoding.IDENTITY:
        return content
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    return packer.compress(content) + packer.flush()


def decode(content: bytes, encoding: str) -> bytes:
    """The stored bytes as they were given to `new_artifact` (the service wrote them: no size bound is needed)."""
    if encoding == ContentEncoding.IDENTITY:
        return content
    if encoding == ContentEncoding.GZIP:
        return zlib.decompress(content, _GZIP_WBITS)
    raise ValueError(f"unknown artifact content encoding {encoding!r}")


def new_artifact(submission_id: int, kind: str, content_type: str, content: bytes) -> Artifact:
    """An artifact row holding `content`, compressed where its kind compresses."""
    encoding = encoding_for(kind)
    return Artifact(submission_id=submission_id, kind=kind, content_type=content_type,
                    content=encode(content, encoding), content_encoding=encoding.value)


def artifact_content(artifact: Artifact) -> bytes:
    """The artifact's bytes as uploaded or produced (decompressed)."""
    return decode(artifact.content, artifact.content_encoding)
