"""``c360 serve``: load the snapshot, then serve until interrupted."""

from __future__ import annotations

import logging

from c360.config import Config
from c360.lake import Lake
from c360.serve.access import ACCESS_LOG, AccessLog, Tokens
from c360.serve.app import Service, create_app
from c360.serve.snapshot import Current, storage_options, table_uri

log = logging.getLogger(__name__)


def build_service(conf: Config, tokens_file: str | None = None) -> Service:
    """Tokens first (a bad token file fails before any table is read), then the snapshot."""
    tokens = Tokens.load(tokens_file)
    lake = Lake.from_config(conf)
    current = Current(lake, conf.serve.reload_seconds)
    uri = table_uri(lake, ACCESS_LOG)
    access_log = AccessLog(uri, storage_options(uri), conf.serve.access_log_flush_seconds)
    return Service(current, tokens, access_log, conf.serve.search_limit)


def serve(conf: Config, host: str | None, port: int | None, tokens_file: str | None) -> None:
    import uvicorn

    service = build_service(conf, tokens_file)
    host, port = host or conf.serve.host, port if port is not None else conf.serve.port
    log.info("step=serve.listen url=http://%s:%d", host, port)
    # uvicorn's own access log writes each URL, and a search's URL holds its terms
    uvicorn.run(create_app(service), host=host, port=port, access_log=False, log_config=None)
