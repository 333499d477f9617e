"""The service: settings, store and queue, webhook intake, HTTP API, worker and the `augur` CLI."""
