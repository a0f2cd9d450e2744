from django.apps import AppConfig


class JournalConfig(AppConfig):
    name = "kap.journal"
    label = "journal"
