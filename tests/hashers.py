"""The password hasher of the test run.

Production hashes with Argon2id at Django's default cost (about 0.1 s and 100 MiB a password:
right for a real account, and most of the time of a test that makes a few accounts). The tests
hash with the same algorithm at the lowest cost Argon2 allows. The hashes still start with
`argon2$` and carry their own parameters, so the app's own hasher, in a child process running
the production settings, verifies them (and would re-hash them at full cost on login).
`tests/test_settings.py` proves that production keeps Argon2 at its configured cost.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class CheapArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 8  # KiB: the least Argon2 accepts for one lane
    parallelism = 1
