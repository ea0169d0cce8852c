"""A real Kafka broker on 127.0.0.1 with TLS + SASL/SCRAM-SHA-512 + the StandardAuthorizer,
for the ACL tests. Certificates are made here (cryptography) in the run folder, never
committed. Users are created when the storage is formatted (`--add-scram`); `admin` is
the only super user on the client listener. The controller listener stays PLAINTEXT on
loopback (its ANONYMOUS principal is a super user so the broker may talk to its own
controller): a cluster secures that listener too (deploy/README.md).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline.kafka.broker import LOG4J, cluster_id, free_port, jars
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


def _properties(port: int, controller: int, data: Path, keystore: Path, truststore: Path) -> str:
    jaas = f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN[0]}" ' \
           f'password="{ADMIN[1]}";'
    return f"""\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
inter.broker.listener.name=SASL_SSL
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
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
log.dirs={data}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""


@dataclass
class SecureBroker:
    bootstrap: str
    ca: Path
    proc: subprocess.Popen

    def settings(self, user: str, password: str) -> KafkaSettings:
        return KafkaSettings(bootstrap=self.bootstrap, security_protocol="SASL_SSL", sasl_username=user,
                             sasl_password=password, ssl_cafile=self.ca)

    def stop(self, grace: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start(run: Path, users: dict[str, str], timeout: float = 90.0) -> SecureBroker:
    run.mkdir(parents=True)
    (run / "data").mkdir()
    ca, keystore = _certificates(run)
    port, controller = free_port(), free_port()
    props = run / "server.properties"
    props.write_text(_properties(port, controller, run / "data", keystore, ca))
    classpath = f"{jars()}/*"
    out = open(run / "broker.out", "ab")
    scram = [arg for user, password in {ADMIN[0]: ADMIN[1], **users}.items()
             for arg in ("--add-scram", f"SCRAM-SHA-512=[name={user},password={password}]")]
    subprocess.run(["java", "-Xmx256m", f"-Dlog4j2.configurationFile={LOG4J}", "-cp", classpath,
                    "kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(props), *scram],
                   stdout=out, stderr=subprocess.STDOUT, check=True)
    proc = subprocess.Popen(["java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                             f"-Dkafka.logs.dir={run / 'logs'}", f"-Dlog4j2.configurationFile={LOG4J}",
                             "-cp", classpath, "kafka.Kafka", str(props)],
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    broker = SecureBroker(f"127.0.0.1:{port}", ca, proc)
    try:
        asyncio.run(_wait_ready(broker, timeout))
    except BaseException:
        broker.stop()
        raise
    return broker


async def _wait_ready(broker: SecureBroker, timeout: float) -> None:
    from pipeline.kafka.secure import client_options

    options = client_options(broker.settings(*ADMIN))
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if broker.proc.poll() is not None:
            raise RuntimeError(f"secure broker exited rc={broker.proc.returncode}")
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=5000, **options)
        try:
            await admin.start()
            if (await admin.describe_cluster())["brokers"]:
                return
        except Exception as e:  # not up yet
            last = e
        finally:
            await admin.close()
        await asyncio.sleep(0.5)
    raise TimeoutError(f"secure broker not ready: {last!r}")
