"""The probes' URLs. kap.ops.middleware.ProbeMiddleware answers them first (before the Host
check); these routes are the same views for anything that reaches the URL resolver."""

from django.urls import path

from kap.ops import views

app_name = "ops"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]
