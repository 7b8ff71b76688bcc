"""Benchmark harness: agentbay_oss against oss2, alibabacloud-oss-v2 and raw aiohttp.

Run `uv run --python python3 python -m benchmarks --help`. Every client run happens in its
own child process (`python -m benchmarks.runner`) against a local server that also runs in its
own process, so peak RSS and CPU seconds belong to the client alone.
"""
