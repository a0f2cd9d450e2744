from django.apps import AppConfig


class JournalConfig(AppConfig):
    name = "kap.journal"
    label = "journal"

    def ready(self) -> None:
        # The blind index of a person's words is written as their records are saved.
        from kap.journal import records, stamps, word_index

        word_index.connect()
        stamps.connect()  # the change stamp Today's cache is keyed on
        records.register()  # the journal's kinds on the timeline, before practices' and care's
