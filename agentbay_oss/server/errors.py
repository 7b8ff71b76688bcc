"""The one exception the server raises inside handlers: an OSS error with its HTTP status,
and the table of OSS's per-cause error codes (EC) it carries."""

from __future__ import annotations

# x-oss-ec (and <EC> in the body): OSS's fine-grained error code, one per cause, which its
# docs index at https://api.aliyun.com/troubleshoot?q=<EC>. Only codes seen in OSS's own
# documentation or in OSS responses quoted by Alibaba's SDKs are used; every other error
# carries GENERIC_EC, which is no published OSS code, so nobody mistakes it for a real cause.
GENERIC_EC = "0000-00000000"
EC_KEY_TOO_LONG = "0016-00000002"  # InvalidObjectName: longer than 1023 bytes (OSS docs)
EC_KEY_LEADING_SLASH = "0016-00000005"  # InvalidObjectName: starts with / or \ (OSS docs)
EC_APPEND_NO_POSITION = "0016-00000501"  # AppendObject without ?position (OSS docs)
# CopyObject whose source bucket is in another region (OSS's error page 0016-00000306; the
# page gives no HTTP status or Code: 400 InvalidArgument is this server's choice).
EC_COPY_CROSS_REGION = "0016-00000306"
EC_BY_CODE = {
    # OSS's DeleteBucket reference (its error examples); OSS responses in the Go SDK v2 tests.
    "NoSuchBucket": "0015-00000101",
    "BucketNotEmpty": "0015-00000301",
    # OSS responses quoted by aliyun-oss-java-sdk's ErrorTest and the Go SDK v2 tests.
    "NoSuchKey": "0026-00000001",
    # OSS support pages: 0002-00000040 (a V1 signature that does not match; the server
    # reports V4 mismatches with it too), 0002-00000504 (Date too far from server time).
    "SignatureDoesNotMatch": "0002-00000040",
    "RequestTimeTooSkewed": "0002-00000504",
    # An OSS response quoted by alibabacloud-oss-v2's and the C++ SDK v2's tests.
    "InvalidAccessKeyId": "0002-00000902",
    "InvalidObjectName": EC_KEY_TOO_LONG,
    # OSS's error pages for AppendObject.
    "PositionNotEqualToLength": "0026-00000016",
    "ObjectNotAppendable": "0026-00000017",
}


class OssError(Exception):
    """Becomes `<Error><Code/><Message/>...</Error>` (or `x-oss-err` on HEAD) at the edge."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        ec: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}
        self.ec = ec or EC_BY_CODE.get(code, GENERIC_EC)


def no_such_bucket(bucket: str) -> OssError:
    return OssError(
        404, "NoSuchBucket", "The specified bucket does not exist.", extra={"BucketName": bucket}
    )


def no_such_key(key: str) -> OssError:
    return OssError(404, "NoSuchKey", "The specified key does not exist.", extra={"Key": key})


def no_such_upload(upload_id: str) -> OssError:
    return OssError(
        404,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, "
        "or the upload may have been aborted or completed.",
        extra={"UploadId": upload_id},
    )


def invalid_argument(message: str, name: str = "", value: str = "") -> OssError:
    extra = {"ArgumentName": name, "ArgumentValue": value} if name else {}
    return OssError(400, "InvalidArgument", message, extra=extra)


def malformed_xml(detail: str = "") -> OssError:
    msg = (
        "The XML you provided was not well-formed or did not validate against our published schema."
    )
    return OssError(400, "MalformedXML", msg + (f" ({detail})" if detail else ""))
