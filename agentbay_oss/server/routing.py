"""From a parsed request to an OSS operation, and what each operation demands of a request.

The operation name drives dispatch, counters, fault filters and the rules below.
Which sub-resources map to which operation is `subresources`' table.
"""

from __future__ import annotations

from . import subresources
from .errors import EC_KEY_LEADING_SLASH, EC_KEY_TOO_LONG, OssError


def operation(
    method: str, bucket: str, key: str, q: dict[str, str | None], h: dict[str, str]
) -> str:
    """The OSS operation name a request maps to (used for dispatch and counters).

    Sub-resources decide it (see `subresources`); "Unsupported" is answered 501.
    """
    op = subresources.lookup(method, bucket, key, q)
    if op == "ListObjects" and q.get("list-type") == "2":
        return "ListObjectsV2"
    if op == "UploadPart" and "x-oss-copy-source" in h:
        return "UploadPartCopy"
    if op == "PutObject" and "x-oss-copy-source" in h:
        return "CopyObject"
    return op


# Operations whose handler reads (or drains) the request body. Any other request that
# declares a body is answered without waiting for it, and its connection is closed after the
# answer: the declared bytes may never come (a client that put Content-Length on a GET), and
# if they do not, the next request on the connection would be read as this one's body, and its
# remainder parsed as garbage, which would earn it a wrong answer. HTTP framing says the body
# is there, so neither reading it first (a hang) nor ignoring it (a desync) is safe; closing is.
TAKES_BODY = frozenset(
    {
        "PutBucket", "DeleteMultipleObjects", "PutObject", "CopyObject", "InitiateMultipartUpload",
        "UploadPart", "UploadPartCopy", "CompleteMultipartUpload", "AppendObject",
        "PutObjectTagging",
    }
)  # fmt: skip

# What an unsigned request may do on a public bucket (public-read-write).
ANONYMOUS_OPS = frozenset(
    {
        "ListObjects", "ListObjectsV2", "GetBucketInfo", "GetBucketLocation", "GetBucketAcl",
        "ListMultipartUploads", "DeleteMultipleObjects", "PutObject", "CopyObject", "GetObject",
        "HeadObject", "GetObjectMeta", "DeleteObject", "InitiateMultipartUpload", "UploadPart",
        "UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts",
        "GetObjectAcl", "PutObjectAcl", "AppendObject", "GetObjectTagging", "PutObjectTagging",
        "DeleteObjectTagging",
    }
)  # fmt: skip

# Operations on no bucket, or on one that need not exist yet.
BUCKETLESS_OPS = frozenset({"ListBuckets", "PutBucket"})

# Operations that create or change the object named in the path. OSS refuses names starting
# with a backslash for them; reads and deletes of such a name just find nothing.
KEY_WRITE_OPS = frozenset(
    {
        "PutObject", "CopyObject", "PutObjectAcl", "InitiateMultipartUpload", "UploadPart",
        "UploadPartCopy", "CompleteMultipartUpload", "AppendObject", "PutObjectTagging",
    }
)  # fmt: skip


def check_key(key: str, op: str) -> None:
    """Refuse an object name OSS refuses (InvalidObjectName)."""
    if len(key.encode()) > 1023:
        raise OssError(
            400, "InvalidObjectName", "The object key is longer than 1023 bytes.",
            extra={"Key": key[:64]}, ec=EC_KEY_TOO_LONG,
        )  # fmt: skip
    if op in KEY_WRITE_OPS and key.startswith("\\"):
        raise OssError(
            400, "InvalidObjectName", "The object name must not start with a backslash.",
            extra={"Key": key[:64]}, ec=EC_KEY_LEADING_SLASH,
        )  # fmt: skip
