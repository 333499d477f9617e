"""Log search: one tool (``log_search``) over pluggable backends, answered as Drain templates.

- :mod:`~augur.tools.logs.backend` — the :class:`LogBackend` protocol, queries and answers;
- :mod:`~augur.tools.logs.sqlite` — the embedded default: log files indexed in SQLite FTS5;
- :mod:`~augur.tools.logs.elastic` — Elasticsearch through the official client;
- :mod:`~augur.tools.logs.templates` — Drain templates, new-since-baseline flags;
- :mod:`~augur.tools.logs.lines` — reading JSON-lines and plain log files;
- :mod:`~augur.tools.logs.search` — the :class:`LogSearchTool` itself.
"""

from augur.tools.logs.backend import LogBackend, LogPage, LogQuery, LogRecord
from augur.tools.logs.elastic import ElasticsearchLogBackend, EsFields
from augur.tools.logs.lines import LineError, parse_lines
from augur.tools.logs.search import LogLimits, LogSearchArgs, LogSearchTool
from augur.tools.logs.sqlite import IngestResult, SqliteLogStore
from augur.tools.logs.templates import LogTemplate, mine_templates

__all__ = [
    "ElasticsearchLogBackend",
    "EsFields",
    "IngestResult",
    "LineError",
    "LogBackend",
    "LogLimits",
    "LogPage",
    "LogQuery",
    "LogRecord",
    "LogSearchArgs",
    "LogSearchTool",
    "LogTemplate",
    "SqliteLogStore",
    "mine_templates",
    "parse_lines",
]
