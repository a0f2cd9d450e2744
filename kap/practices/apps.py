from django.apps import AppConfig


class PracticesConfig(AppConfig):
    name = "kap.practices"
    label = "practices"
