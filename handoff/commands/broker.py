"""`handoff broker`: fetch the jars and run the embedded Kafka broker in the foreground."""
from __future__ import annotations

import signal
import threading

import typer

cli = typer.Typer(help="The embedded Apache Kafka broker (KRaft, single node, 127.0.0.1).", no_args_is_help=True)


@cli.command()
def fetch() -> None:
    """Resolve the broker's jars from Maven Central into .cache/ (no-op when cached)."""
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.kafka.broker import BrokerError, jars

    try:
        typer.echo(f"kafka jars: {jars()}")
    except BrokerError as e:
        raise CliError(str(e), EXIT_UNAVAILABLE) from None


@cli.command()
def start(port: int = typer.Option(9092, help="client port on 127.0.0.1")) -> None:
    """Start a fresh broker and keep it until Ctrl-C."""
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.kafka.broker import BrokerError, EmbeddedBroker
    from pipeline.settings import Settings

    broker = EmbeddedBroker(Settings().kafka.embedded_run_dir, port=port)
    try:
        info = broker.start()
    except BrokerError as e:
        raise CliError(str(e), EXIT_UNAVAILABLE) from None
    typer.echo(f"Kafka {info.version} at {info.bootstrap} (ready in {info.start_seconds:.1f}s, "
               f"RSS {info.rss_mib:.0f} MiB); Ctrl-C stops it")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
