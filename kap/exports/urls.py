from django.urls import path

from kap.exports import views

app_name = "exports"
urlpatterns = [
    path("", views.index, name="index"),
    path("export.json", views.export_json, name="json"),
    path("export.zip", views.export_csv, name="csv"),
    path("fhir.json", views.export_fhir, name="fhir"),
    path("import/", views.import_json, name="import"),
    path("import-questionnaire/", views.import_questionnaire, name="import-questionnaire"),
    path("delete/", views.delete, name="delete"),
]
