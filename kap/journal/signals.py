"""What the journal announces to the parts above it, which listen without the journal knowing
them (kap.care, for one, alerts linked therapists to a safety event).

safety_event_recorded: a client's answers matched a safety rule and a new SafetyEvent was stored.
Sent with `event=` the SafetyEvent, inside the transaction that stored it, so what a receiver
writes commits or rolls back with the event. A receiver must not send anything (an e-mail, a
task) itself: it queues such work with transaction.on_commit. An exception in a receiver rolls
the whole submission back.
"""

from django.dispatch import Signal

safety_event_recorded = Signal()
