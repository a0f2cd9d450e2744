"""`kap search reindex`: rebuild the blind index of everyone's words (kap.journal.word_index),
with a progress bar. Needed after KAP_SECRET_KEY changes; safe while the app runs, and to stop
and run again (one person per transaction)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kap.journal import word_index


class Command(BaseCommand):
    help = (
        "Rebuild the search index of everyone's words under the current KAP_SECRET_KEY. Safe"
        " while the app runs, and to stop and run again."
    )

    def handle(self, **options):
        console = Console(file=self.stdout._out, highlight=False, soft_wrap=True)
        everyone = word_index.people()
        with Progress(
            TextColumn("Indexing the words of"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("people"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("reindex", total=len(everyone))
            people, rows = word_index.reindex_everyone(progress=lambda n: bar.advance(task, n))
        who = "1 person" if people == 1 else f"{people} people"
        console.print(f"Rebuilt the search index: {who}, {rows} index rows.")
