"""OSS query sub-resources: which ones exist, and which (method, target, set) this server serves.

OSS picks the operation from the method, the target (service, bucket or object) and
the sub-resources in the query: `PUT /b/k?tagging` is PutObjectTagging, not PutObject.
A server that ignored a sub-resource it does not know would run the plain operation
instead and destroy data (replace the object's bytes with the tagging XML, delete the
bucket on `DELETE /b?cors`). So every request naming a sub-resource is either one of
the IMPLEMENTED combinations below or answered 501 NotImplemented before any handler
runs or any body is read.

Query parameters that only modify the plain operation (listing parameters, response-*
overrides, presign fields) are not sub-resources and never change the operation.
Unknown parameters are ignored, as OSS ignores them (cache-busting `?_=123`).
"""

from __future__ import annotations

from collections.abc import Mapping

# Every sub-resource known to oss2 (oss2.auth.ProviderAuth._subresource_key_set and the
# Bucket/Service constants), alibabacloud-oss-v2 (its V1 signer's set and each operation's
# "sub-resource" metadata and flag parameters) and the OSS API reference, minus the few
# entries of those sets that are operation modifiers (see MODIFIERS).
SUBRESOURCES = frozenset(
    {
        # access control, bucket configuration
        "acl", "cors", "lifecycle", "logging", "website", "referer", "policy", "policyStatus",
        "encryption", "versioning", "requestPayment", "tagging", "inventory", "inventoryId",
        "replication", "replicationLocation", "replicationProgress", "rtc", "worm", "wormId",
        "wormExtend", "transferAcceleration", "cname", "httpsConfig", "redundancyTransition",
        "x-oss-target-redundancy-type", "x-oss-redundancy-transition-taskid",
        "bucketArchiveDirectRead", "accessmonitor", "publicAccessBlock", "accessPoint",
        "accessPointPolicy", "x-oss-access-point-name", "resourceGroup", "overwriteConfig",
        "userDefinedLogFieldsConfig", "responseHeader", "dataPipeline", "style", "styleName",
        "metaQuery", "MetaQuery", "action", "metadataConfiguration", "metadataInventoryTable",
        "metadataJournalTable", "qos", "qosInfo", "requesterQosInfo", "qosRequester", "quota",
        "resourcePool", "resourcePoolInfo", "resourcePoolBuckets", "stat", "location",
        "bucketInfo", "delete", "uploads", "regions", "regionList", "cloudboxes",
        # objects
        "uploadId", "partNumber", "objectMeta", "objectInfo", "symlink", "link", "group",
        "restore", "cleanRestoredObject", "append", "position", "versions", "versionId",
        "sequential", "seal", "legalHold", "retention", "objectWorm", "callback", "callback-var",
        "x-oss-process", "x-oss-async-process", "x-oss-write-get-object-response", "asyncFetch",
        # LiveChannel (RTMP ingest)
        "live", "comp", "status", "vod", "startTime", "endTime",
        # signed-URL access restrictions: ignoring one would silently widen access
        "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id", "x-oss-ac-forward-allow",
        # the S3 dialect's names for what OSS also serves (boto3, rclone)
        "torrent", "notification", "legal-hold", "object-lock", "select", "select-type",
        "attributes", "ownershipControls", "accelerate", "analytics", "metrics",
        "intelligent-tiering", "renameObject",
    }
)  # fmt: skip

# In oss2's signing set but only modify the plain operation, so they are not listed above:
# response-* overrides (GetObject), security-token (STS presign), continuation-token
# (ListObjectsV2), x-oss-request-payer (billing only) and x-oss-traffic-limit (bandwidth
# only: the bytes are the same).
MODIFIERS = frozenset(
    {
        "response-content-type", "response-content-language", "response-expires",
        "response-cache-control", "response-content-disposition", "response-content-encoding",
        "security-token", "continuation-token", "x-oss-request-payer", "x-oss-traffic-limit",
    }
)  # fmt: skip

SERVICE, BUCKET, OBJECT = "service", "bucket", "object"

# (method, target, sub-resources present) -> operation. The empty set is the plain operation.
# Copies (x-oss-copy-source) and ListObjectsV2 (list-type=2) are told apart by `operation`.
IMPLEMENTED: Mapping[tuple[str, str, frozenset[str]], str] = {
    ("GET", SERVICE, frozenset()): "ListBuckets",
    ("GET", BUCKET, frozenset()): "ListObjects",
    ("PUT", BUCKET, frozenset()): "PutBucket",
    ("DELETE", BUCKET, frozenset()): "DeleteBucket",
    ("HEAD", BUCKET, frozenset()): "GetBucketInfo",
    ("GET", BUCKET, frozenset({"bucketInfo"})): "GetBucketInfo",
    ("GET", BUCKET, frozenset({"location"})): "GetBucketLocation",
    ("GET", BUCKET, frozenset({"acl"})): "GetBucketAcl",
    ("GET", BUCKET, frozenset({"uploads"})): "ListMultipartUploads",
    ("POST", BUCKET, frozenset({"delete"})): "DeleteMultipleObjects",
    ("PUT", OBJECT, frozenset()): "PutObject",
    ("GET", OBJECT, frozenset()): "GetObject",
    ("HEAD", OBJECT, frozenset()): "HeadObject",
    ("DELETE", OBJECT, frozenset()): "DeleteObject",
    ("HEAD", OBJECT, frozenset({"objectMeta"})): "GetObjectMeta",
    ("GET", OBJECT, frozenset({"acl"})): "GetObjectAcl",
    ("PUT", OBJECT, frozenset({"acl"})): "PutObjectAcl",
    ("GET", OBJECT, frozenset({"tagging"})): "GetObjectTagging",
    ("PUT", OBJECT, frozenset({"tagging"})): "PutObjectTagging",
    ("DELETE", OBJECT, frozenset({"tagging"})): "DeleteObjectTagging",
    ("POST", OBJECT, frozenset({"uploads"})): "InitiateMultipartUpload",
    # Without its position an append still is one: it fails with InvalidArgument.
    ("POST", OBJECT, frozenset({"append", "position"})): "AppendObject",
    ("POST", OBJECT, frozenset({"append"})): "AppendObject",
    # A part upload missing one of its two parameters still is one: it fails with
    # InvalidArgument or NoSuchUpload, never as a PutObject.
    ("PUT", OBJECT, frozenset({"uploadId", "partNumber"})): "UploadPart",
    ("PUT", OBJECT, frozenset({"uploadId"})): "UploadPart",
    ("PUT", OBJECT, frozenset({"partNumber"})): "UploadPart",
    ("GET", OBJECT, frozenset({"uploadId"})): "ListParts",
    ("POST", OBJECT, frozenset({"uploadId"})): "CompleteMultipartUpload",
    ("DELETE", OBJECT, frozenset({"uploadId"})): "AbortMultipartUpload",
}

NOT_IMPLEMENTED = "Unsupported"  # the operation name (and counter) of everything else


def target_kind(bucket: str, key: str) -> str:
    return OBJECT if key else BUCKET if bucket else SERVICE


def lookup(method: str, bucket: str, key: str, query: Mapping[str, str | None]) -> str:
    """The implemented operation for this request, or NOT_IMPLEMENTED."""
    present = frozenset(name for name in query if name in SUBRESOURCES)
    return IMPLEMENTED.get((method, target_kind(bucket, key), present), NOT_IMPLEMENTED)


def describe(method: str, bucket: str, key: str, query: Mapping[str, str | None]) -> str:
    """Why a request is not implemented, for the 501 message."""
    present = sorted(name for name in query if name in SUBRESOURCES)
    what = "?" + "&".join(present) if present else "without a sub-resource"
    return f"{method} {what} on a {target_kind(bucket, key)} is not implemented by this server."
