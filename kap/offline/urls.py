"""The service worker and the manifest live at the site's root: a worker's scope is the folder
it is served from, and it must cover every page."""

from django.urls import path

from kap.offline import views

app_name = "offline"

urlpatterns = [
    path("sw.js", views.service_worker, name="service-worker"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("offline/", views.offline_page, name="page"),
    path("offline/pages/", views.person_pages, name="pages"),
]
