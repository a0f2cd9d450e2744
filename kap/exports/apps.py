from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "kap.exports"
    label = "exports"
