from django.apps import AppConfig


class ContentConfig(AppConfig):
    name = "kap.content"
    label = "content"
