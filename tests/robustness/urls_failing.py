"""The app's URLConf plus two views that fail on purpose, for the error-page tests."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from kap import urls as kap_urls


def boom(request, rest):
    # The exception carries what was asked for and typed, as a real bug's message might.
    raise RuntimeError(f"failed on {request.get_full_path()} with {dict(request.POST)}")


def forbidden(request):
    raise PermissionDenied(f"not for {request.get_full_path()}")


urlpatterns = [
    path("test-boom/<path:rest>", boom),
    path("test-forbidden/", forbidden),
    *kap_urls.urlpatterns,
]
handler500 = kap_urls.handler500
