"""Running the app: the encryption keys and their canary, key rotation (at once or staged),
backup and restore, the `kap setup`, `kap backup`, `kap restore` and `kap keys …` commands, the
probes (/healthz, /readyz), the worker's heartbeat and housekeeping, the server's status for the
clinic page, the e-mail outcome, and the request id of the log."""
