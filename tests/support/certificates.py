"""A certificate authority and a server certificate for 127.0.0.1, made with openssl for one
test run: the TLS listener of a test broker presents the certificate, the clients trust the CA."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificates:
    ca: Path
    """The CA certificate (PEM): what KAFKA_SSL_CAFILE names."""
    server: Path
    """The server's private key (PKCS#8) and certificate in one PEM file: a Kafka PEM keystore."""


def make_certificates(directory: Path) -> Certificates:
    directory.mkdir(parents=True, exist_ok=True)

    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], cwd=directory, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=program-builder test CA",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1",
    )  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
    )  # fmt: skip
    server = directory / "server.pem"
    server.write_text(
        (directory / "server.key").read_text() + (directory / "server.crt").read_text()
    )
    return Certificates(directory / "ca.pem", server)
