"""TransferConfig: how transfers are cut into requests, how many run at once, how they retry."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

MIN_PART_SIZE = 100 * KiB  # OSS: every part but the last at least 100 KiB (EntityTooSmall)
MAX_PART_SIZE = 5 * GiB
MAX_PUT_SIZE = 5 * GiB  # PutObject limit


class TransferConfig(BaseModel):
    """Validated at construction; frozen so one config can be shared by many sessions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    part_size: int = Field(
        default=8 * MiB,
        ge=MIN_PART_SIZE,
        le=MAX_PART_SIZE,
        description="bytes per multipart part / download range (grown to stay within 10,000 parts)",
    )
    multipart_threshold: int = Field(
        default=16 * MiB,
        ge=0,
        le=MAX_PUT_SIZE,
        description="files of at least this size go multipart, objects are fetched in ranges",
    )
    concurrency: int = Field(
        default=8, ge=1, le=256, description="requests in flight per session, shared by all files"
    )
    max_retries: int = Field(
        default=5, ge=0, le=50, description="retries per request after the first try"
    )
    backoff_base: float = Field(
        default=0.1, gt=0, le=60, description="seconds, first backoff ceiling"
    )
    backoff_max: float = Field(default=10.0, gt=0, le=600, description="seconds, largest backoff")
    connect_timeout: float = Field(default=10.0, gt=0, le=600, description="seconds to connect")
    read_timeout: float = Field(
        default=60.0, gt=0, le=3600, description="seconds without a byte from the server"
    )
    checkpoint_dir: Path | None = Field(
        default=None, description="where resume records of interrupted transfers are kept"
    )

    @model_validator(mode="after")
    def _check(self) -> TransferConfig:
        if self.backoff_max < self.backoff_base:
            raise ValueError("backoff_max must be >= backoff_base")
        return self


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad field, e.g. "concurrency: Input should be greater than or equal to 1"."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "config"
        lines.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
    return "invalid TransferConfig: " + "; ".join(lines)
