from django.apps import AppConfig


class JournalConfig(AppConfig):
    name = "kap.journal"
    label = "journal"

    def ready(self) -> None:
        # The blind index of a person's words is written as their records are saved.
        from kap.journal import records, word_index

        word_index.connect()
        records.register()  # the journal's kinds on the timeline, before practices' and care's
