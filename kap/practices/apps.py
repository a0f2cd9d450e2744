from django.apps import AppConfig


class PracticesConfig(AppConfig):
    name = "kap.practices"
    label = "practices"

    def ready(self) -> None:
        # Practice logs are a kind of the person's one timeline, which the journal keeps.
        from kap.practices import records

        records.register()
