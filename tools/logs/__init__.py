"""Log search: one tool (``log_search``) over pluggable backends, answered as Drain templates.

- :mod:`~augur.tools.logs.backend` — the :class:`LogBackend` protocol, queries and answers;
- :mod:`~augur.tools.logs.sqlite` — the embedded default: log files indexed in SQLite FTS5;
- :mod:`~augur.tools.logs.elastic` — Elasticsearch through the official client;
- :mod:`~augur.tools.logs.templates` — Drain templates, new-since-baseline flags;
- :mod:`~augur.tools.logs.lines` — reading log files line by line, every line accounted for;
- :mod:`~augur.tools.logs.formats` — the header layouts of plain lines, detection, ``--format``;
- :mod:`~augur.tools.logs.timestamps` — the time layouts real logs write;
- :mod:`~augur.tools.logs.structured` — JSON and logfmt lines;
- :mod:`~augur.tools.logs.search` — the :class:`LogSearchTool` itself.
"""

from augur.tools.logs.backend import LogBackend, LogPage, LogQuery, LogRecord
from augur.tools.logs.elastic import ElasticsearchLogBackend, EsFields
from augur.tools.logs.formats import FORMATS, FormatError, LineFormat, detect_format, user_format
from augur.tools.logs.lines import LineError, ReadStats, parse_lines
from augur.tools.logs.search import LogLimits, LogSearchArgs, LogSearchTool
from augur.tools.logs.sqlite import IngestResult, SqliteLogStore
from augur.tools.logs.templates import LogTemplate, mine_templates
from augur.tools.logs.timestamps import YearGuess, parse_timestamp

__all__ = [
    "FORMATS",
    "ElasticsearchLogBackend",
    "EsFields",
    "FormatError",
    "IngestResult",
    "LineError",
    "LineFormat",
    "LogBackend",
    "LogLimits",
    "LogPage",
    "LogQuery",
    "LogRecord",
    "LogSearchArgs",
    "LogSearchTool",
    "LogTemplate",
    "ReadStats",
    "SqliteLogStore",
    "YearGuess",
    "detect_format",
    "mine_templates",
    "parse_lines",
    "parse_timestamp",
    "user_format",
]
