"""Certificates for the TLS tests, made with the `openssl` command line: a
CA, a server certificate for 127.0.0.1 / localhost, a client certificate
for `alice` signed by the CA, and a self-signed "rogue" client certificate
that names `alice` too but that no CA vouches for."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

# Extensions rustls (the server) and BoringSSL / Go (the clients) insist on:
# a CA that may sign, leaves that may not, and each leaf's purpose (Floe
# nodes present their server certificate to each other as clients too).
EXTENSIONS = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[rogue]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
"""

NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass
class Pair:
    """A certificate and its private key, as files and as PEM bytes."""
    cert: Path
    key: Path

    @property
    def cert_pem(self) -> bytes:
        return self.cert.read_bytes()

    @property
    def key_pem(self) -> bytes:
        return self.key.read_bytes()


@dataclass
class Certificates:
    ca: Pair
    server: Pair
    alice: Pair
    rogue: Pair


def _openssl(*args: str):
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"openssl {' '.join(args)}:\n{done.stderr}"


def _self_signed(directory: Path, name: str, subject: str, section: str, config: Path) -> Pair:
    pair = Pair(directory / f"{name}.pem", directory / f"{name}.key")
    _openssl("req", "-x509", *NEW_KEY, "-keyout", str(pair.key), "-out", str(pair.cert), "-days", "2",
             "-subj", subject, "-config", str(config), "-extensions", section)
    return pair


def _signed(directory: Path, name: str, subject: str, section: str, config: Path, ca: Pair, serial: int) -> Pair:
    pair = Pair(directory / f"{name}.pem", directory / f"{name}.key")
    request = directory / f"{name}.csr"
    _openssl("req", "-new", *NEW_KEY, "-keyout", str(pair.key), "-out", str(request), "-subj", subject,
             "-config", str(config))
    _openssl("x509", "-req", "-in", str(request), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-set_serial",
             str(serial), "-days", "2", "-out", str(pair.cert), "-extfile", str(config), "-extensions", section)
    return pair


def make_certificates(directory: Path) -> Certificates:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "openssl.cnf"
    config.write_text(EXTENSIONS)
    ca = _self_signed(directory, "ca", "/CN=Floe test CA", "ca", config)
    return Certificates(
        ca=ca,
        server=_signed(directory, "server", "/CN=localhost", "server", config, ca, 1001),
        alice=_signed(directory, "alice", "/CN=alice/O=Floe tests", "client", config, ca, 1002),
        rogue=_self_signed(directory, "rogue", "/CN=alice/O=Floe tests", "rogue", config),
    )
