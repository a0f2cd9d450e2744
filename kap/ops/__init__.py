"""Running the app: the encryption keys and their canary, key rotation, backup and restore, and
the `kap setup`, `kap backup`, `kap restore` and `kap keys rotate` commands."""
