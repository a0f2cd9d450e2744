from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "kap.care"
    label = "care"
