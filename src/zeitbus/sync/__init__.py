"""Sync: every machine's log on every machine (docs/sync.md).

``replicator`` moves one direction's changes (the core), ``local`` is this
log as a source and a target, ``wire`` the batch's JSON, and ``http_peer``
another Zeitbus daemon over its HTTP API (the adapter, on httpx).
"""
