"""The drill's own PostgreSQL, RabbitMQ node and Redis: in its temporary folder, on loopback
ports of their own, started, stopped and restarted by the drill alone (never the machine's)."""

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def free_ports(count: int) -> list[int]:
    """`count` free loopback ports below the ephemeral range, none of them another's +20000
    (a RabbitMQ node's default distribution port)."""
    chosen: list[int] = []
    candidate = 20000 + os.getpid() % 5000
    while len(chosen) < count:
        candidate += 7
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
        chosen.append(candidate)
    return chosen


def as_owner_of_data(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: then it runs as the `postgres` account."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PostgreSQL:
    def __init__(self, folder: Path, port: int) -> None:
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(path.split("/")[-2]))
        if not versions:
            raise SystemExit("the drill needs PostgreSQL's server binaries under /usr/lib/postgresql")
        self.bin = Path(versions[-1])
        self.folder, self.port = folder, port
        self.data = folder / "data"
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}"

    def start(self) -> None:
        if not self.data.exists():
            self.folder.mkdir(parents=True)
            if os.geteuid() == 0:
                shutil.chown(self.folder, "postgres", "postgres")
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-instructions")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "start", "-o", (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=400"
        ))

    def restart(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def _run(self, program: str, *arguments: str, check: bool = True) -> None:
        subprocess.run(
            as_owner_of_data([str(self.bin / program), *arguments]), check=check,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if not check else None,
        )


class RabbitMQ:
    """A node of its own (name, AMQP and distribution ports, data), without plugins."""

    def __init__(self, folder: Path, port: int, dist_port: int) -> None:
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            raise SystemExit(f"the drill needs RabbitMQ's server scripts in {RABBITMQ_BIN}")
        self.folder, self.port = folder, port
        self.node = f"waymark-drill-{port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{port}/"
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True)
        (folder / "env.conf").write_text("")
        (folder / "rabbitmq.conf").write_text("")
        (folder / "enabled_plugins").write_text("[].\n")
        self.environment = {
            **os.environ, "HOME": str(folder), "RABBITMQ_CONF_ENV_FILE": str(folder / "env.conf"),
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(port), "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"), "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"), "RABBITMQ_PID_FILE": str(folder / "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> None:
        with (self.folder / "server.log").open("a") as log:
            self.process = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")], env=self.environment, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder,
            )
        self.ctl("wait", str(self.folder / "pid"), "--timeout", "180")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.ctl("stop", check=False)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def queues(self) -> dict[str, int]:
        """Messages ready or unacknowledged in each queue."""
        output = self.ctl("-q", "list_queues", "name", "messages", "--no-table-headers")
        return {
            name: int(count) for name, count in
            (line.rsplit(None, 1) for line in output.splitlines() if line.strip())
        }

    def ctl(self, *arguments: str, check: bool = True) -> str:
        return subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *arguments],
            env=self.environment, check=check, capture_output=True, text=True, timeout=200,
        ).stdout


class Redis:
    def __init__(self, folder: Path, port: int) -> None:
        if shutil.which("redis-server") is None:
            raise SystemExit("the drill needs redis-server")
        self.folder, self.port = folder, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=(self.folder / "server.log").open("a"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("the drill's Redis did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
