"""A real Kafka broker on 127.0.0.1 with TLS + SASL/SCRAM-SHA-512 + the StandardAuthorizer,
for the ACL tests. Certificates are made here (cryptography) in the run folder, never
committed. Users are created when the storage is formatted (`--add-scram`); `admin` is
the only super user on the client listener. The controller listener stays PLAINTEXT on
loopback (its ANONYMOUS principal is a super user so the broker may talk to its own
controller): a cluster secures that listener too (deploy/README.md).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline.kafka.broker import EmbeddedBroker
from pipeline.kafka.secure import client_options
from pipeline.settings import KafkaSettings

ADMIN = ("admin", "admin-secret-0123456789")


def _certificates(folder: Path) -> tuple[Path, Path]:
    """A CA and a server certificate for 127.0.0.1; returns (ca.pem, server.pem with key + chain)."""
    now = dt.datetime.now(dt.timezone.utc)

    def cert(subject: str, key, issuer_name, issuer_key, ca: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "handoff test CA")])
    ca = cert("handoff test CA", ca_key, ca_name, ca_key, ca=True)
    server = cert("127.0.0.1", server_key, ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + server.public_bytes(pem) + ca.public_bytes(pem))
    return folder / "ca.pem", folder / "server.pem"


def _security(keystore: Path, truststore: Path) -> str:
    """What the embedded broker's server.properties gains: SCRAM on the SASL_SSL listener, the PEM
    stores, the StandardAuthorizer refusing what no ACL allows."""
    jaas = f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN[0]}" ' \
           f'password="{ADMIN[1]}";'
    return f"""\
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={truststore}
ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{ADMIN[0]};User:ANONYMOUS
"""


@dataclass
class SecureBroker:
    bootstrap: str
    ca: Path
    broker: EmbeddedBroker

    def settings(self, user: str, password: str) -> KafkaSettings:
        return KafkaSettings(bootstrap=self.bootstrap, security_protocol="SASL_SSL", sasl_username=user,
                             sasl_password=password, ssl_cafile=self.ca)

    def stop(self) -> None:
        self.broker.stop()


def start(run: Path, users: dict[str, str], timeout: float = 90.0) -> SecureBroker:
    """The embedded broker (pipeline/kafka/broker.py) with a SASL_SSL listener, its users made when the
    storage is formatted, ready once `admin` gets in over TLS + SCRAM."""
    run.mkdir(parents=True)
    ca, keystore = _certificates(run)
    scram = [arg for user, password in {ADMIN[0]: ADMIN[1], **users}.items()
             for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]")]
    admin = KafkaSettings(bootstrap="", security_protocol="SASL_SSL", sasl_username=ADMIN[0],
                          sasl_password=ADMIN[1], ssl_cafile=ca)
    broker = EmbeddedBroker(run / "broker", timeout=timeout, listener="SASL_SSL", properties=_security(keystore, ca),
                            format_args=tuple(scram), client_options=client_options(admin))
    info = broker.start()  # stops its JVM itself when it does not get ready
    return SecureBroker(info.bootstrap, ca, broker)
