"""Trends, the summary to bring to therapy and blank sheets to print (mounted at /progress/)."""

from django.urls import path

from kap.progress import views

app_name = "progress"

urlpatterns = [
    path("", views.trends_view, name="trends"),
    path("summary/", views.summary_form, name="summary"),
    path("summary/view/", views.summary_view, name="summary-view"),
    path("summary.pdf", views.summary_pdf, name="summary-pdf"),
    path("blank/<slug:key>/", views.blank, name="blank"),
    path("blank/<slug:key>.pdf", views.blank_pdf, name="blank-pdf"),
]
