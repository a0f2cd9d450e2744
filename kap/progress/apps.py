from django.apps import AppConfig


class ProgressConfig(AppConfig):
    name = "kap.progress"
    label = "progress"
