from django.urls import path

from kap.practices import views

app_name = "practices"
urlpatterns = [
    path("", views.practice_list, name="list"),
    path("grounding/", views.grounding, name="grounding"),
    path("awareness/", views.awareness, name="awareness"),
    path("log/", views.log, name="log"),
    path("<int:pk>/", views.log_detail, name="detail"),
]
