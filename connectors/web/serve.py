"""`handoff serve web`: the web service with its producer (views and answers go through the Writer)."""
from __future__ import annotations

import logging

from connectors.web import build_app, build_web, web_server
from pipeline.kafka.producer import ProducerSink
from pipeline.settings import Settings
from pipeline.stage import Writer
from pipeline.storage import open_store
from pipeline.topics import Catalogue

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> None:
    store = open_store(settings.storage.url)
    try:
        store.migrate()
        async with ProducerSink(settings.kafka.bootstrap) as sink:
            writer = Writer(Catalogue(settings.kafka.topic_prefix), sink, "web")
            server = web_server(settings, build_app(build_web(settings, store, writer)))
            await server.serve()
    finally:
        store.close()
