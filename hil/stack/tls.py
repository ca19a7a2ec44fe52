"""Brokers for the MQTT conformance suite: a test CA made with ``openssl`` and a mosquitto with
plain, TLS and client-certificate listeners on free ports of 127.0.0.1.

``TestCertificates.create(dir)`` writes a CA, a server certificate for ``localhost`` and
``127.0.0.1``, a client certificate, and a second CA the broker does not use (for "untrusted"
cases). ``ConformanceMosquitto`` starts its own mosquitto from a generated config in a temp dir;
it can be stopped, restarted (with or without its persistence), and frozen with SIGSTOP.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from alertloop.hil.stack.base import MissingBinaries, ServerStartError
from alertloop.hil.stack.native import find_binary
from alertloop.hil.stack.probes import free_port, mqtt_connect_ok
from alertloop.hil.stack.server import ServerProcess
from alertloop.services.common.config import MqttSettings, MqttTls

__all__ = ["ConformanceMosquitto", "TestCertificates"]

_DAYS = "2"


def _openssl(*args: str, cwd: Path) -> None:
    """Run ``openssl``; raises MissingBinaries when it is not installed."""
    binary = shutil.which("openssl")
    if binary is None:
        raise MissingBinaries("openssl is not installed (apt-get install openssl)")
    subprocess.run([binary, *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class TestCertificates:
    """PEM files of a throwaway CA and the certificates it signed."""

    __test__ = False  # not a pytest test class

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing the broker uses

    @classmethod
    def create(cls, folder: Path) -> TestCertificates:
        """Make the CA and the certificates in ``folder`` (EC P-256 keys, valid two days)."""
        folder.mkdir(parents=True, exist_ok=True)
        for ca in ("ca", "other-ca"):
            _openssl(
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", _DAYS,
                "-subj", f"/CN=alertloop test {ca}", cwd=folder,
            )  # fmt: skip
        for name, ext in (
            ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
            ("client", "extendedKeyUsage=clientAuth"),
        ):
            (folder / f"{name}.ext").write_text(ext + "\n")
            _openssl(
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=alertloop-{name}",
                cwd=folder,
            )  # fmt: skip
            _openssl(
                "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", _DAYS,
                "-extfile", f"{name}.ext", cwd=folder,
            )  # fmt: skip
        return cls(
            ca=folder / "ca.pem",
            server_cert=folder / "server.pem",
            server_key=folder / "server.key",
            client_cert=folder / "client.pem",
            client_key=folder / "client.key",
            other_ca=folder / "other-ca.pem",
        )


def _conf(root: Path, certs: TestCertificates, ports: dict[str, int], persistence: bool) -> str:
    lines = [
        "per_listener_settings false",
        "allow_anonymous true",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {root / 'data'}/",
        f"log_dest file {root / 'broker.log'}",  # flushed per line, unlike stdout
        "log_dest stdout",  # the start error lands in the ServerStartError
        "log_type all",
        "connection_messages true",
        "max_queued_messages 100000",
        f"listener {ports['plain']} 127.0.0.1",
        f"listener {ports['tls']} 127.0.0.1",
        f"cafile {certs.ca}",
        f"certfile {certs.server_cert}",
        f"keyfile {certs.server_key}",
        f"listener {ports['mtls']} 127.0.0.1",
        f"cafile {certs.ca}",
        f"certfile {certs.server_cert}",
        f"keyfile {certs.server_key}",
        "require_certificate true",
    ]
    if os.geteuid() == 0:
        lines.insert(0, "user root")  # keep root so the temp dir stays writable
    return "\n".join(lines) + "\n"


class ConformanceMosquitto:
    """mosquitto with a plain, a TLS and a client-certificate TLS listener; a context manager."""

    def __init__(self, *, persistence: bool = True, start_timeout: float = 20.0) -> None:
        self.persistence = persistence
        self.start_timeout = start_timeout
        self.root: Path | None = None
        self.certs: TestCertificates | None = None
        self.ports: dict[str, int] = {}
        self._server: ServerProcess | None = None

    # -- endpoints -----------------------------------------------------------------------
    @property
    def plain(self) -> MqttSettings:
        return MqttSettings("127.0.0.1", self.ports["plain"])

    @property
    def tls(self) -> MqttSettings:
        """The TLS listener, trusting the test CA (name checked: the certificate names both
        ``localhost`` and ``127.0.0.1``)."""
        assert self.certs is not None
        tls = MqttTls(ca_file=str(self.certs.ca))
        return MqttSettings("127.0.0.1", self.ports["tls"], tls=True, tls_options=tls)

    @property
    def mtls(self) -> MqttSettings:
        """The listener that requires a client certificate, with the test client's."""
        assert self.certs is not None
        tls = MqttTls(
            ca_file=str(self.certs.ca),
            cert_file=str(self.certs.client_cert),
            key_file=str(self.certs.client_key),
        )
        return replace(self.tls, port=self.ports["mtls"], tls_options=tls)

    @property
    def pid(self) -> int | None:
        return self._server.pid if self._server else None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> ConformanceMosquitto:
        """Make the certificates and config (first time), start mosquitto, wait until ready.

        Raises MissingBinaries (mosquitto or openssl missing) or ServerStartError.
        """
        if self._server is not None:
            self._server.start()
            return self
        binary = find_binary("mosquitto")
        if binary is None:
            raise MissingBinaries("mosquitto is not installed (apt-get install mosquitto)")
        self.root = Path(tempfile.mkdtemp(prefix="alertloop-conformance-"))
        self.certs = TestCertificates.create(self.root / "pki")
        (self.root / "data").mkdir()
        for attempt in range(3):  # a free port may be taken by someone else before we bind it
            self.ports = {name: free_port() for name in ("plain", "tls", "mtls")}
            conf = self.root / "mosquitto.conf"
            conf.write_text(_conf(self.root, self.certs, self.ports, self.persistence))
            port = self.ports["plain"]
            self._server = ServerProcess(
                "mosquitto",
                [binary, "-c", str(conf)],
                self.root / "mosquitto.log",
                lambda port=port: mqtt_connect_ok("127.0.0.1", port),  # type: ignore[misc]
                cwd=self.root,
                start_timeout=self.start_timeout,
            )
            try:
                self._server.start()
                return self
            except ServerStartError:
                if attempt == 2 or "Address already in use" not in self.log_tail(5):
                    raise
        return self

    def stop(self) -> None:
        """Terminate mosquitto (it saves its persistence file); start() brings it back."""
        if self._server is not None:
            self.resume()
            self._server.stop()

    def restart(self, *, forget: bool = False) -> None:
        """Stop and start again on the same ports; ``forget`` deletes the saved sessions."""
        self.stop()
        if forget and self.root is not None:
            shutil.rmtree(self.root / "data", ignore_errors=True)
            (self.root / "data").mkdir()
        self.start()

    def suspend(self) -> None:
        """Freeze the broker (SIGSTOP to its pid): connections stay open, nothing answers."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen broker run again (SIGCONT)."""
        if self.pid is not None:
            os.kill(self.pid, signal.SIGCONT)

    def close(self) -> None:
        """Stop and remove the temp dir."""
        self.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        self._server = None

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the broker's own log."""
        if self.root is None:
            return "(not started)"
        try:
            text = (self.root / "broker.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ConformanceMosquitto:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()
