"""Re-encrypting every value under the current key, with a progress bar: the part `kap keys
rotate` and `kap keys reencrypt` share."""

from __future__ import annotations

from django.core.management.base import CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kap.ops import rotation


def reencrypt_with_bar(
    console: Console, *, current: str, total: int, batch_size: int, stopped: str
) -> rotation.PassResult:
    """Run rotation.reencrypt_all, showing its progress; a RotationError becomes a CommandError
    beginning with `stopped` ("key rotation stopped")."""
    with Progress(
        TextColumn(f"Re-encrypting under {current}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("reencrypt", total=total)
        try:
            result = rotation.reencrypt_all(
                batch_size=batch_size, progress=lambda n: bar.advance(task, n)
            )
        except rotation.RotationError as e:
            raise CommandError(f"{stopped}: {e}") from None
    console.print(
        f"Re-encrypted {result.rewritten} value(s) in {result.rows} row(s);"
        f" {result.skipped_current} were already under {current}."
    )
    return result
