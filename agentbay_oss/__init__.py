"""agentbay-oss: fast, safe transfers between a machine and Alibaba Cloud OSS."""

__version__ = "0.1.0"
