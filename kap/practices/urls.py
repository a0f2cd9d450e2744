from django.urls import path

from kap.practices import views

app_name = "practices"
urlpatterns = [
    path("", views.practice_list, name="list"),
    path("log/", views.log, name="log"),
    path("<int:pk>/", views.log_detail, name="detail"),
    # Last, so "log/" and a log's number are never read as a practice's key.
    path("<slug:key>/", views.practice, name="practice"),
    path("<slug:key>/note/", views.note, name="note"),
]
