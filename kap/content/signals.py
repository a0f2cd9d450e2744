"""What content tells the parts above it (which it does not import: tests/test_import_layers.py).

translation_reviewed: a clinic admin marked a pack's translation reviewed for their clinic
(kap.content.views.translation_review). Sent with `review` (a TranslationReview) and `request`;
the audit trail (kap.care) writes it down.
"""

from django.dispatch import Signal

translation_reviewed = Signal()
