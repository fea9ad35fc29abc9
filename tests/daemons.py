"""The real Prometheus and Alertmanager binaries as loopback daemons for the tests.

    with PrometheusProcess(require("prometheus"), tmp_path, config) as prometheus:
        prometheus.query("up")
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from otlp_receiver import LOOPBACK, free_port


class PromQLError(AssertionError):
    """Prometheus answered a query with an error; the message is Prometheus' own."""


class LoopbackDaemon:
    """A server binary listening on a free loopback port, logging to ``directory``, ready once
    ``/-/ready`` answers 200. Its log is in the error when it never gets there."""

    name = "daemon"

    def __init__(self, command: list[str], directory: Path, port: int, ready_timeout: float = 30) -> None:
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"
        self.log = directory / f"{self.name}.log"
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if not self._wait_ready(ready_timeout):
            self.close()
            raise RuntimeError(f"{self.name} did not become ready:\n{self.log.read_text(errors='replace')}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return True
            except OSError:
                time.sleep(0.1)
        return False

    def get_json(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:  # noqa: S310 - loopback
                return json.loads(response.read())
        except urllib.error.HTTPError as error:  # Prometheus puts the reason in the JSON body of a 400/422
            return json.loads(error.read())

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)

    def __enter__(self) -> LoopbackDaemon:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class AlertmanagerProcess(LoopbackDaemon):
    """The real Alertmanager routing everything to ``webhook_url`` within ~1s."""

    name = "alertmanager"

    def __init__(self, binary: str, directory: Path, webhook_url: str) -> None:
        config = directory / "alertmanager.yml"
        config.write_text(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n  - name: hook\n    webhook_configs:\n"
            f"      - url: {webhook_url}\n        send_resolved: true\n",
            encoding="utf-8",
        )
        port = free_port()
        super().__init__([binary, f"--config.file={config}", f"--storage.path={directory / 'data'}",
                          f"--web.listen-address={LOOPBACK}:{port}", "--cluster.listen-address="], directory, port)

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.get_json("/api/v2/alerts"))


class PrometheusProcess(LoopbackDaemon):
    """The real Prometheus server on ``config`` (YAML text), its TSDB under ``directory``,
    with the remote-write receiver on (``remote_write_url``)."""

    name = "prometheus"

    def __init__(self, binary: str, directory: Path, config: str) -> None:
        path = directory / "prometheus.yml"
        path.write_text(config, encoding="utf-8")
        port = free_port()
        super().__init__([binary, f"--config.file={path}", f"--storage.tsdb.path={directory / 'tsdb'}",
                          f"--web.listen-address={LOOPBACK}:{port}", "--web.enable-remote-write-receiver"],
                         directory, port)
        self.remote_write_url = f"{self.url}/api/v1/write"

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar, as one item) ``expr`` evaluates to now; PromQLError on an error."""
        answer = self.get_json("/api/v1/query", query=expr)
        if answer.get("status") != "success":
            raise PromQLError(f"{answer.get('errorType')}: {answer.get('error')}")
        data = answer["data"]
        return list(data["result"]) if data["resultType"] in ("vector", "matrix") else [data]

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict[str, Any]]:
        """The series ``expr`` gives between ``start`` and ``end`` (Unix seconds), as a graph panel asks."""
        answer = self.get_json("/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}",
                               step=f"{step:g}")
        if answer.get("status") != "success":
            raise PromQLError(f"{answer.get('errorType')}: {answer.get('error')}")
        return list(answer["data"]["result"])

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self.get_json("/api/v1/rules")["data"]["groups"] for rule in group["rules"]]

    def wait_for(self, expr: str, timeout: float = 30) -> list[dict[str, Any]]:
        """``expr``'s result once it is non-empty; AssertionError with the log tail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(expr)
            if result:
                return result
            time.sleep(0.25)
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        raise AssertionError(f"{expr} stayed empty for {timeout:g}s; prometheus log:\n{tail}")
