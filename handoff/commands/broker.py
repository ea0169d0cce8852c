"""`handoff broker`: fetch the jars and run the embedded Kafka broker in the foreground."""
from __future__ import annotations

import signal

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
def start(port: int = typer.Option(9092, help="client port on 127.0.0.1"),
          wipe: bool = typer.Option(False, "--wipe", help="start on fresh storage (its topics and data go)")) -> None:
    """Start the broker on the data of its last start (or fresh storage) and keep it until Ctrl-C or SIGTERM."""
    from handoff.errors import EXIT_UNAVAILABLE, CliError
    from pipeline.kafka.broker import BrokerError, EmbeddedBroker
    from pipeline.settings import Settings

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # from now on, start-up included: stop the JVM, then exit
    run_dir = Settings().kafka.embedded_run_dir
    broker = EmbeddedBroker(run_dir, port=port, wipe=wipe)
    try:
        info = broker.start()
        typer.echo(f"Kafka {info.version} at {info.bootstrap} (ready in {info.start_seconds:.1f}s, "
                   f"RSS {info.rss_mib:.0f} MiB, data in {run_dir / 'data'}); Ctrl-C stops it")
        while True:
            signal.pause()
    except BrokerError as e:
        raise CliError(str(e), EXIT_UNAVAILABLE) from None
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
