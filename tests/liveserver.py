"""The browser tests' live server: Django's threaded one, but one request at a time when its
threads share a database connection.

On SQLite the test database lives in memory, and every thread of the live server uses the test's
one connection. Two requests at once (an autosave and a submit, two windows) would interleave on
it, each inside the other's transaction: a failure no real server has, since there each thread has
its own connection. On PostgreSQL nothing is shared and requests stay concurrent."""

import threading

from django.core.servers.basehttp import ThreadedWSGIServer


class _HeldUntilClosed:
    """A response body that keeps the lock until the server has sent it and closed it."""

    def __init__(self, body, lock):
        self.body, self.lock = body, lock

    def __iter__(self):
        return iter(self.body)

    def close(self):
        try:
            if hasattr(self.body, "close"):
                self.body.close()  # Django's request_finished
        finally:
            self.lock.release()


class SerialWSGIServer(ThreadedWSGIServer):
    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, connections_override=connections_override, **kwargs)
        self.one_at_a_time = threading.Lock() if connections_override else None

    def set_app(self, application):
        lock = self.one_at_a_time
        if lock is None:
            return super().set_app(application)

        def serial(environ, start_response):
            lock.acquire()
            try:
                return _HeldUntilClosed(application(environ, start_response), lock)
            except BaseException:
                lock.release()
                raise

        return super().set_app(serial)
