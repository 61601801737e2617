"""The built-in carrier simulator: the default provider when no Telnyx key is configured.

It behaves like the network: API latency, per-number throughput it enforces and logs,
delivery receipts, failures with real Telnyx codes, replies (some of them STOP), all
posted as signed Telnyx-format webhooks to our own endpoint from the "simulator" queue.
See `behaviour.py` for the knobs and the reserved test numbers.
"""
