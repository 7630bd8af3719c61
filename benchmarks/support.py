"""What every benchmark section shares: the running network and the load generator."""

import re
import subprocess
from dataclasses import dataclass

import httpx

from waymark_kernel.settings import SERVICE_NAMES


@dataclass
class Bench:
    """The distributed network under test, with a network-admin client."""

    base_url: str
    port: int
    client: httpx.AsyncClient
    admin: dict[str, str]
    queue_prefix: str  # the network's RabbitMQ queues are named `<queue_prefix>.<consumer>`

    def direct_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port + 1 + SERVICE_NAMES.index(service)}"


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    median_ms: float
    p99_ms: float


def wrk(url: str, headers: dict[str, str], connections: int, duration: str = "10s") -> WrkResult:
    """Load `url` with wrk (Debian package `wrk`) from a second process."""
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors:\n{output}")
    return WrkResult(
        float(found(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        _latency(output, "50%"), _latency(output, "99%"),
    )


def found(pattern: str, output: str) -> re.Match[str]:
    """The first match of `pattern` in a tool's output; a run whose output lacks it fails."""
    match = re.search(pattern, output)
    if match is None:
        raise RuntimeError(f"no {pattern!r} in:\n{output}")
    return match


def _latency(output: str, percentile: str) -> float:
    match = found(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", output)
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * share))]
