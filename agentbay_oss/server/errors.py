"""The one exception the server raises inside handlers: an OSS error with its HTTP status."""

from __future__ import annotations


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
        ec: str = "0000-00000000",
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}
        self.ec = ec


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
