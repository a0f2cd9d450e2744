from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "kap.ops"
    label = "ops"
